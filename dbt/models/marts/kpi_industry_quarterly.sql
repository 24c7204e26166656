-- Industrial-belt KPIs per snapshot quarter, complex and sector, from the SCD2 company history:
-- the companies active on each quarter's snapshot date, and the change from the quarter before.
with

companies as (

    select * from {{ ref('dim_companies') }}

),

quarters as (

    select
        snapshot_quarter,
        min(valid_from) as snapshot_date
    from companies
    group by snapshot_quarter

),

company_quarters as (

    select
        quarters.snapshot_quarter,
        companies.industrial_complex,
        companies.sector,
        companies.company_id,
        companies.employees,
        companies.revenue_krw_mn,
        companies.investment_krw_mn,
        companies.is_startup
    from quarters
    inner join companies
        on
            quarters.snapshot_date >= companies.valid_from
            and coalesce(companies.valid_to, cast('9999-12-31' as date)) > quarters.snapshot_date
    where companies.company_status = 'active'

),

aggregated as (

    select
        snapshot_quarter,
        industrial_complex,
        sector,
        count(*) as companies,
        sum(employees) as employees,
        round(sum(revenue_krw_mn), 1) as revenue_krw_mn,
        round(sum(investment_krw_mn), 1) as investment_krw_mn,
        sum(case when is_startup then 1 else 0 end) as startups
    from company_quarters
    group by snapshot_quarter, industrial_complex, sector

),

with_previous as (

    select
        *,
        lag(companies) over (partition by industrial_complex, sector order by snapshot_quarter) as prev_companies,
        lag(employees) over (partition by industrial_complex, sector order by snapshot_quarter) as prev_employees,
        lag(revenue_krw_mn) over (partition by industrial_complex, sector order by snapshot_quarter) as prev_revenue_krw_mn,
        lag(investment_krw_mn) over (partition by industrial_complex, sector order by snapshot_quarter) as prev_investment_krw_mn,
        lag(startups) over (partition by industrial_complex, sector order by snapshot_quarter) as prev_startups
    from aggregated

),

final as (

    select
        concat(snapshot_quarter, '|', industrial_complex, '|', sector) as quarter_complex_sector_key,
        snapshot_quarter,
        industrial_complex,
        sector,
        companies,
        employees,
        revenue_krw_mn,
        investment_krw_mn,
        startups,
        companies - prev_companies as companies_qoq_change,
        employees - prev_employees as employees_qoq_change,
        round(revenue_krw_mn - prev_revenue_krw_mn, 1) as revenue_qoq_change_krw_mn,
        round(investment_krw_mn - prev_investment_krw_mn, 1) as investment_qoq_change_krw_mn,
        startups - prev_startups as startups_qoq_change,
        round((employees - prev_employees) / nullif(prev_employees, 0), 4) as employees_qoq_pct,
        round((revenue_krw_mn - prev_revenue_krw_mn) / nullif(prev_revenue_krw_mn, 0), 4) as revenue_qoq_pct
    from with_previous

)

select * from final
