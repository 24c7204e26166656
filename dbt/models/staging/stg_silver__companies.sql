with

source as (

    select * from {{ source('silver', 'companies') }}

),

renamed as (

    select
        cast(company_id as string) as company_id,
        cast(company_name as string) as company_name,
        cast(complex as string) as industrial_complex,
        cast(district as string) as district_name_ko,
        cast(sector as string) as sector,
        cast(employees as int) as employees,
        cast(revenue_krw_mn as double) as revenue_krw_mn,
        cast(investment_krw_mn as double) as investment_krw_mn,
        cast(founded_year as int) as founded_year,
        cast(is_startup as boolean) as is_startup,
        cast(startup_support as string) as startup_support,
        cast(status as string) as company_status,
        cast(snapshot_quarter as string) as snapshot_quarter,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(is_current as boolean) as is_current
    from source

)

select * from renamed
