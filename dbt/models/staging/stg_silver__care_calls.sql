with

source as (

    select * from {{ source('silver', 'care_calls') }}

),

renamed as (

    select
        cast(call_id as string) as call_id,
        cast(resident_key as string) as resident_key,
        cast(vendor as string) as vendor,
        cast(scheduled_at as timestamp) as scheduled_at,
        cast(started_at as timestamp) as started_at,
        cast(ended_at as timestamp) as ended_at,
        cast(outcome as string) as call_outcome,
        cast(answered as boolean) as is_answered,
        cast(duration_sec as int) as duration_sec,
        cast(sentiment as double) as sentiment_score,
        cast(keywords as string) as keywords,
        cast(escalation as string) as escalation,
        cast(call_date as date) as call_date
    from source

)

select * from renamed
