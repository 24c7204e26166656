with

source as (

    select * from {{ source('gold', 'risk_alerts') }}

),

renamed as (

    select
        cast(alert_id as string) as alert_id,
        cast(resident_key as string) as resident_key,
        cast(score_date as date) as score_date,
        cast(grade as string) as grade,
        cast(probability as double) as probability,
        cast(rule_flags as string) as rule_flags,
        cast(next_step as string) as next_step,
        cast(model_version as string) as model_version
    from source

)

select * from renamed
