with

residents as (

    select * from {{ ref('stg_silver__residents') }}

),

districts as (

    select * from {{ ref('districts') }}

),

final as (

    select
        residents.resident_key,
        residents.valid_from,
        residents.valid_to,
        coalesce(residents.valid_to, cast('9999-12-31' as date)) as valid_until,
        residents.is_current,
        districts.district_code,
        residents.district_name_ko,
        residents.sex,
        residents.birth_year,
        residents.is_living_alone,
        residents.programmes,
        residents.has_consent,
        residents.enrolled_on,
        residents.resident_status
    from residents
    left join districts
        on residents.district_name_ko = districts.name_ko

)

select * from final
