with

source as (

    select * from {{ source('silver', 'sensor_readings') }}

),

renamed as (

    select
        cast(event_id as string) as event_id,
        cast(resident_key as string) as resident_key,
        cast(device_type as string) as device_type,
        cast(metric as string) as metric,
        cast(value as double) as reading_value,
        cast(diastolic as double) as diastolic_value,
        cast(unit as string) as unit,
        cast(measured_at as timestamp) as measured_at,
        cast(reading_hour as int) as reading_hour,
        cast(reading_date as date) as reading_date
    from source

)

select * from renamed
