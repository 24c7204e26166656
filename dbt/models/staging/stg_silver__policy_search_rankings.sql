with

source as (

    select * from {{ source('silver', 'policy_search_ranking') }}

),

renamed as (

    select
        cast(ranking_date as date) as ranking_date,
        cast(rank as int) as search_rank,
        cast(keyword as string) as keyword,
        cast(service_id as string) as service_id,
        cast(search_count as bigint) as search_count
    from source

)

select * from renamed
