with

companies as (

    select * from {{ ref('stg_silver__companies') }}

),

districts as (

    select * from {{ ref('districts') }}

),

final as (

    select
        concat(companies.company_id, '|', cast(companies.valid_from as string)) as company_version_key,
        companies.company_id,
        companies.company_name,
        companies.industrial_complex,
        districts.district_code,
        companies.sector,
        companies.employees,
        companies.revenue_krw_mn,
        companies.investment_krw_mn,
        companies.founded_year,
        companies.is_startup,
        companies.startup_support,
        companies.company_status,
        companies.snapshot_quarter,
        companies.valid_from,
        companies.valid_to,
        companies.is_current
    from companies
    left join districts
        on companies.district_name_ko = districts.name_ko

)

select * from final
