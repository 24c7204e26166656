with

districts as (

    select * from {{ ref('districts') }}

),

residents as (

    select * from {{ ref('int_resident_versions_coded') }}

),

enrolled as (

    select
        district_code,
        count(*) as enrolled_residents,
        sum(case when is_living_alone then 1 else 0 end) as enrolled_living_alone
    from residents
    where is_current and resident_status = 'active'
    group by district_code

),

final as (

    select
        districts.district_code,
        districts.name_ko as district_name_ko,
        districts.name_en as district_name_en,
        districts.kind as district_kind,
        cast(districts.population as bigint) as population,
        cast(districts.elderly_living_alone as bigint) as elderly_living_alone,
        coalesce(enrolled.enrolled_residents, 0) as enrolled_residents,
        coalesce(enrolled.enrolled_living_alone, 0) as enrolled_living_alone
    from districts
    left join enrolled
        on districts.district_code = enrolled.district_code

)

select * from final
