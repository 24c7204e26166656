-- Every sensor reading in silver is counted once in fct_vitals_daily, per day and metric.
with

silver_days as (

    select
        reading_date,
        metric,
        count(*) as readings
    from {{ ref('stg_silver__sensor_readings') }}
    group by reading_date, metric

),

mart_days as (

    select
        reading_date,
        metric,
        sum(readings) as readings
    from {{ ref('fct_vitals_daily') }}
    group by reading_date, metric

),

final as (

    select
        coalesce(silver_days.reading_date, mart_days.reading_date) as reading_date,
        coalesce(silver_days.metric, mart_days.metric) as metric,
        silver_days.readings as silver_readings,
        mart_days.readings as mart_readings
    from silver_days
    full outer join mart_days
        on
            silver_days.reading_date = mart_days.reading_date
            and silver_days.metric = mart_days.metric
    where coalesce(silver_days.readings, -1) != coalesce(mart_days.readings, -1)

)

select * from final
