{# Hours from one timestamp to another (null when either is null), rounded to 0.01 h. #}
{% macro hours_between(start_ts, end_ts) %}
    cast(round((unix_timestamp({{ end_ts }}) - unix_timestamp({{ start_ts }})) / 3600, 2) as double)
{% endmacro %}
