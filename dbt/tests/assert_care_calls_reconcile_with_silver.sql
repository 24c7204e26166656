-- Every call in silver is counted exactly once in fct_care_calls_daily, day by day
-- (scheduled and answered); returns the days that disagree.
with

silver_days as (

    select
        call_date,
        count(*) as calls_scheduled,
        sum(case when is_answered then 1 else 0 end) as calls_answered
    from {{ ref('stg_silver__care_calls') }}
    group by call_date

),

mart_days as (

    select
        call_date,
        sum(calls_scheduled) as calls_scheduled,
        sum(calls_answered) as calls_answered
    from {{ ref('fct_care_calls_daily') }}
    group by call_date

),

final as (

    select
        coalesce(silver_days.call_date, mart_days.call_date) as call_date,
        silver_days.calls_scheduled as silver_calls,
        mart_days.calls_scheduled as mart_calls,
        silver_days.calls_answered as silver_answered,
        mart_days.calls_answered as mart_answered
    from silver_days
    full outer join mart_days
        on silver_days.call_date = mart_days.call_date
    where
        silver_days.call_date is null
        or mart_days.call_date is null
        or silver_days.calls_scheduled != mart_days.calls_scheduled
        or coalesce(silver_days.calls_answered, 0) != coalesce(mart_days.calls_answered, 0)

)

select * from final
