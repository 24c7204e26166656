-- Care KPIs per district and calendar month (KST). Residents count for a month when an active
-- version of their record overlaps it and they enrolled by its end; each is attributed to the
-- district of their latest such version, and so are their contacts and alerts that month.
with

districts as (

    select * from {{ ref('districts') }}

),

versions as (

    select * from {{ ref('int_resident_versions_coded') }}

),

calls as (

    select * from {{ ref('int_care_calls_streaked') }}

),

visits as (

    select * from {{ ref('stg_silver__visit_outcomes') }}

),

alerts as (

    select * from {{ ref('int_alerts_responded') }}

),

months as (

    select distinct cast(date_trunc('month', call_date) as date) as month_start from calls
    union
    select distinct cast(date_trunc('month', visit_date) as date) as month_start from visits
    union
    select distinct cast(date_trunc('month', score_date) as date) as month_start from alerts

),

resident_months_ranked as (

    select
        months.month_start,
        versions.resident_key,
        versions.district_code,
        versions.is_living_alone,
        row_number() over (
            partition by months.month_start, versions.resident_key
            order by versions.valid_from desc
        ) as version_order
    from months
    inner join versions
        on
            versions.valid_from <= last_day(months.month_start)
            and months.month_start < versions.valid_until
            and versions.enrolled_on <= last_day(months.month_start)
    where versions.resident_status = 'active'

),

resident_months as (

    select
        month_start,
        resident_key,
        district_code,
        is_living_alone
    from resident_months_ranked
    where version_order = 1

),

contacts as (

    select
        resident_key,
        cast(date_trunc('month', call_date) as date) as month_start,
        count(*) as contacts
    from calls
    where is_answered
    group by resident_key, cast(date_trunc('month', call_date) as date)
    union all
    select
        resident_key,
        cast(date_trunc('month', visit_date) as date) as month_start,
        count(*) as contacts
    from visits
    group by resident_key, cast(date_trunc('month', visit_date) as date)

),

resident_month_activity as (

    select
        resident_months.month_start,
        resident_months.district_code,
        resident_months.resident_key,
        resident_months.is_living_alone,
        coalesce(sum(contacts.contacts), 0) as contacts
    from resident_months
    left join contacts
        on
            resident_months.resident_key = contacts.resident_key
            and resident_months.month_start = contacts.month_start
    group by
        resident_months.month_start,
        resident_months.district_code,
        resident_months.resident_key,
        resident_months.is_living_alone

),

enrolment as (

    select
        month_start,
        district_code,
        count(*) as enrolled_residents,
        sum(case when is_living_alone then 1 else 0 end) as enrolled_living_alone,
        sum(contacts) as contacts
    from resident_month_activity
    group by month_start, district_code

),

alert_months as (

    select
        resident_months.month_start,
        resident_months.district_code,
        count(*) as alerts,
        median(alerts.hours_to_resolution) as median_response_hours
    from alerts
    inner join resident_months
        on
            alerts.resident_key = resident_months.resident_key
            and cast(date_trunc('month', alerts.score_date) as date) = resident_months.month_start
    group by resident_months.month_start, resident_months.district_code

),

final as (

    select
        concat(districts.district_code, '|', cast(months.month_start as string)) as district_month_key,
        districts.district_code,
        months.month_start,
        cast(districts.elderly_living_alone as bigint) as elderly_living_alone,
        coalesce(enrolment.enrolled_residents, 0) as enrolled_residents,
        coalesce(enrolment.enrolled_living_alone, 0) as enrolled_living_alone,
        round(coalesce(enrolment.enrolled_living_alone, 0) / districts.elderly_living_alone, 6) as coverage_rate,
        coalesce(enrolment.contacts, 0) as contacts,
        round(enrolment.contacts / nullif(enrolment.enrolled_residents, 0), 4) as contacts_per_resident,
        coalesce(alert_months.alerts, 0) as alerts,
        cast(
            round(coalesce(alert_months.alerts, 0) * 1000 / nullif(enrolment.enrolled_residents, 0), 2) as double
        ) as alerts_per_1000,
        cast(round(alert_months.median_response_hours, 2) as double) as median_response_hours
    from districts
    cross join months
    left join enrolment
        on
            districts.district_code = enrolment.district_code
            and months.month_start = enrolment.month_start
    left join alert_months
        on
            districts.district_code = alert_months.district_code
            and months.month_start = alert_months.month_start

)

select * from final
