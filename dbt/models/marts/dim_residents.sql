with

versions as (

    select * from {{ ref('int_resident_versions_coded') }}

),

final as (

    select
        concat(resident_key, '|', cast(valid_from as string)) as resident_version_key,
        resident_key,
        district_code,
        sex,
        birth_year,
        is_living_alone,
        programmes,
        has_consent,
        enrolled_on,
        resident_status,
        valid_from,
        valid_to,
        is_current
    from versions

)

select * from final
