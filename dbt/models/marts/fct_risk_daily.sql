{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='district_day_key',
    )
}}

with

scores as (

    select * from {{ ref('int_risk_scores_graded') }}
    {{ incremental_lookback('score_date') }}

),

final as (

    select
        concat(district_code, '|', cast(score_date as string)) as district_day_key,
        district_code,
        score_date,
        count(*) as residents_scored,
        sum(case when grade = '정상' then 1 else 0 end) as grade_normal,
        sum(case when grade = '관심' then 1 else 0 end) as grade_attention,
        sum(case when grade = '주의' then 1 else 0 end) as grade_caution,
        sum(case when grade = '경계' then 1 else 0 end) as grade_warning,
        sum(case when grade = '심각' then 1 else 0 end) as grade_serious,
        sum(case when is_alert then 1 else 0 end) as alerts,
        round(avg(probability), 4) as mean_probability
    from scores
    group by district_code, score_date

)

select * from final
