with

source as (

    select * from {{ source('silver', 'residents') }}

),

renamed as (

    select
        cast(resident_key as string) as resident_key,
        cast(sex as string) as sex,
        cast(birth_year as int) as birth_year,
        cast(district as string) as district_name_ko,
        cast(living_alone as boolean) as is_living_alone,
        cast(programmes as string) as programmes,
        cast(consent as boolean) as has_consent,
        cast(enrolled_on as date) as enrolled_on,
        cast(status as string) as resident_status,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(is_current as boolean) as is_current
    from source

)

select * from renamed
