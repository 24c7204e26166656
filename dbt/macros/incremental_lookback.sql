{#
    Incremental filter for late-arriving data: on an incremental run, re-read every row dated
    within `lookback_days` of the newest date already in the target (the merge on the unique key
    then replaces those days), or everything when the target is still empty.
#}
{% macro incremental_lookback(column, target_column=none) %}
    {% if is_incremental() %}
        where {{ column }} >= coalesce(
            (
                select date_sub(max({{ target_column or column }}), {{ var('lookback_days') }})
                from {{ this }}
            ),
            cast('1900-01-01' as date)
        )
    {% endif %}
{% endmacro %}
