-- One row per sensor reading with the resident's district on the reading date.
with

readings as (

    select * from {{ ref('stg_silver__sensor_readings') }}

),

versions as (

    select * from {{ ref('int_resident_versions_coded') }}

),

current_versions as (

    select
        resident_key,
        district_code
    from versions
    where is_current

),

final as (

    select
        readings.event_id,
        readings.resident_key,
        coalesce(versions.district_code, current_versions.district_code) as district_code,
        readings.reading_date,
        readings.metric,
        readings.reading_value,
        readings.diastolic_value
    from readings
    left join versions
        on
            readings.resident_key = versions.resident_key
            and readings.reading_date >= versions.valid_from
            and readings.reading_date < versions.valid_until
    left join current_versions
        on readings.resident_key = current_versions.resident_key

)

select * from final
