with

source as (

    select * from {{ source('silver', 'welfare_services') }}

),

renamed as (

    select
        cast(service_key as string) as service_key,
        cast(source as string) as service_source,
        cast(service_id as string) as service_id,
        cast(service_name as string) as service_name,
        cast(notice_type as string) as notice_type,
        cast(summary as string) as service_summary,
        cast(agency as string) as agency,
        cast(life_stages as string) as life_stages,
        cast(target_groups as string) as target_groups,
        cast(province as string) as province,
        cast(district as string) as district_name_ko,
        cast(registered_on as date) as registered_on,
        cast(snapshot_date as date) as snapshot_date
    from source

)

select * from renamed
