{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='ranking_day_keyword_key',
    )
}}

-- The welfare portal's daily search ranking joined with the policy it points to, with the rank
-- change from the previous day (computed over the full history, then merged for recent days).
with

rankings as (

    select * from {{ ref('stg_silver__policy_search_rankings') }}

),

services as (

    select * from {{ ref('stg_silver__welfare_services') }}

),

services_by_id as (

    select
        *,
        row_number() over (partition by service_id order by snapshot_date desc, service_key asc) as service_order
    from services

),

ranked as (

    select
        *,
        lag(search_rank) over (partition by keyword order by ranking_date) as previous_rank
    from rankings

),

final as (

    select
        concat(cast(ranked.ranking_date as string), '|', ranked.keyword) as ranking_day_keyword_key,
        ranked.ranking_date,
        ranked.keyword,
        ranked.search_rank,
        ranked.search_count,
        ranked.previous_rank,
        ranked.previous_rank - ranked.search_rank as rank_change,
        ranked.service_id,
        services_by_id.service_key,
        services_by_id.service_name,
        services_by_id.notice_type,
        services_by_id.agency,
        services_by_id.service_source,
        services_by_id.service_key is not null as is_matched_policy
    from ranked
    left join services_by_id
        on
            ranked.service_id = services_by_id.service_id
            and services_by_id.service_order = 1
    {{ incremental_lookback('ranked.ranking_date', 'ranking_date') }}

)

select * from final
