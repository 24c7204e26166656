{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='district_day_metric_key',
    )
}}

with

readings as (

    select * from {{ ref('int_sensor_readings_districted') }}
    {{ incremental_lookback('reading_date') }}

),

final as (

    select
        concat(district_code, '|', cast(reading_date as string), '|', metric) as district_day_metric_key,
        district_code,
        reading_date,
        metric,
        count(*) as readings,
        count(distinct resident_key) as residents_measured,
        round(avg(reading_value), 3) as mean_value,
        min(reading_value) as min_value,
        max(reading_value) as max_value,
        round(avg(diastolic_value), 3) as mean_diastolic
    from readings
    group by district_code, reading_date, metric

)

select * from final
