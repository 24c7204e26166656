{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='district_day_key',
    )
}}

with

calls as (

    select * from {{ ref('int_care_calls_streaked') }}
    {{ incremental_lookback('call_date') }}

),

final as (

    select
        concat(district_code, '|', cast(call_date as string)) as district_day_key,
        district_code,
        call_date,
        count(*) as calls_scheduled,
        sum(case when is_answered then 1 else 0 end) as calls_answered,
        round(sum(case when is_answered then 1 else 0 end) / count(*), 4) as answer_rate,
        sum(case when reaches_unanswered_streak_3 then 1 else 0 end) as unanswered_streaks_3plus,
        sum(case when is_escalated then 1 else 0 end) as escalations
    from calls
    group by district_code, call_date

)

select * from final
