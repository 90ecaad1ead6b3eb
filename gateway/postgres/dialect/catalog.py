"""What the classifier knows about PostgreSQL names: functions, operators, GUCs, roles, languages.

Function lists, by bare (unqualified) name, PostgreSQL 13-18. Every function of PostgreSQL 15's
pg_catalog that is volatile or not executable by PUBLIC is on one of them, by review; the test
``tests/gateway/postgres/dialect/test_function_catalogue.py`` reads pg_proc from the real server
and fails when one is not (and records the groups audited):

- DENY (server_escape): functions that run SQL text the gateway never saw (query_to_xml and
  the other ``*_to_xml`` functions, cursor_to_xml, ts_stat, ts_rewrite with a query text,
  dblink, crosstab, connectby, xpath_table), server files (pg_read_file, pg_ls_*, pg_stat_file,
  lo_import / lo_export), postgres_fdw, backend signals, configuration reload and log rotation,
  replication, WAL, backup and binary-upgrade control. A deny name is denied in any schema:
  dblink installs into whatever schema the extension lives in.
- SETTINGS (privilege, held): readers of the server's configuration and internals:
  pg_show_all_settings, pg_config, pg_hba_file_rules, pg_control_*, current_setting of a
  setting not in ``READABLE_GUCS`` (custom settings often hold secrets), ...
- set_config: config (and privilege when it sets role or session_authorization).
- REVIEW: sleeps, advisory locks, sequence changes, large-object access, statistics resets,
  index maintenance, and internal handlers never meant to be called from SQL.
- ALLOW: pure or harmless built-ins, trusted only when the call resolves to pg_catalog (see
  ``state.catalog_first``). Any other function is a user function: procedural, held; a
  ``pg_catalog.``-qualified name on no list is a stable or immutable built-in (or none at all).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ARGUMENT_SENSITIVE",
    "BUILTIN_OPERATORS",
    "ESCAPE_ROLES",
    "READABLE_GUCS",
    "SENSITIVE_CATALOGS",
    "SESSION_GUCS",
    "TRANSACTION_GUCS",
    "TRUSTED_LANGUAGES",
    "FunctionClass",
    "function_class",
    "words",
]


def words(text: str) -> frozenset[str]:
    """A set from a whitespace-separated list (keeps the long lists below readable)."""
    return frozenset(text.split())


class FunctionClass(StrEnum):
    DENY = "deny"
    CONFIG = "config"
    SETTINGS = "settings"
    REVIEW = "review"
    SESSION = "session"
    ALLOW = "allow"
    USER = "user"


_DENY = words(
    """
    pg_read_file pg_read_binary_file pg_stat_file pg_current_logfile pg_file_write
    pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls lo_import lo_export
    pg_terminate_backend pg_cancel_backend pg_signal_backend pg_reload_conf pg_rotate_logfile
    pg_rotate_logfile_old query_to_xml query_to_xmlschema query_to_xml_and_xmlschema
    cursor_to_xml cursor_to_xmlschema table_to_xml table_to_xmlschema table_to_xml_and_xmlschema
    schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml
    database_to_xmlschema database_to_xml_and_xmlschema ts_stat pg_switch_wal pg_switch_xlog
    pg_create_restore_point pg_start_backup pg_stop_backup pg_backup_start pg_backup_stop
    pg_promote pg_import_system_collations pg_log_standby_snapshot pg_sync_replication_slots
    pg_create_physical_replication_slot pg_create_logical_replication_slot
    pg_drop_replication_slot pg_copy_physical_replication_slot pg_copy_logical_replication_slot
    pg_replication_slot_advance pg_ls_dir pg_stop_making_pinned_objects connectby xpath_table
    """
)

_DENY_PREFIXES = (
    "dblink",
    "crosstab",
    "binary_upgrade_",
    "pg_background",
    "postgres_fdw",
    "pg_ls_",
    "pg_read_",
    "pg_file_",
    "pg_logical_",
    "pg_replication_origin",
    "pg_wal_replay_",
    "pg_xlog_replay_",
)

_REVIEW = words(
    """
    pg_sleep pg_sleep_for pg_sleep_until nextval setval lo_unlink lo_create lo_creat lo_open
    lo_close loread lowrite lo_put lo_get lo_truncate lo_truncate64 lo_from_bytea lo_lseek
    lo_lseek64 lo_tell lo_tell64 pg_stat_reset pg_stat_reset_shared pg_stat_reset_slru
    pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters
    pg_stat_reset_replication_slot pg_stat_reset_subscription_stats pg_stat_statements_reset
    pg_stat_reset_backend_stats pg_log_backend_memory_contexts pg_clear_attribute_stats
    pg_restore_attribute_stats pg_restore_relation_stats pg_clear_relation_stats
    txid_current_snapshot pg_export_snapshot brin_desummarize_range brin_summarize_new_values
    brin_summarize_range gin_clean_pending_list pg_extension_config_dump pg_nextoid
    suppress_redundant_updates_trigger tsvector_update_trigger tsvector_update_trigger_column
    unique_key_recheck brinhandler bthandler ginhandler gisthandler hashhandler
    heap_tableam_handler spghandler plpgsql_call_handler plpgsql_inline_handler
    plpgsql_validator dsnowball_init dsnowball_lexize
    """
)

_REVIEW_PREFIXES = ("pg_advisory_", "pg_try_advisory_", "RI_FKey_")

_SETTINGS = words(
    """
    current_setting pg_show_all_settings pg_show_all_file_settings pg_hba_file_rules
    pg_ident_file_mappings pg_config pg_control_checkpoint pg_control_init pg_control_recovery
    pg_control_system pg_tablespace_location pg_get_backend_memory_contexts
    pg_get_shmem_allocations pg_show_replication_origin_status pg_stat_have_stats
    pg_get_wal_summarizer_state pg_available_wal_summaries pg_wal_summary_contents
    pg_get_loaded_modules
    """
)

# ts_rewrite(query, target, substitute) is pure; ts_rewrite(query, select text) runs the query.
_SQL_TEXT_UNLESS_ARGS = {"ts_rewrite": 3}
# Names whose class depends on the number of arguments, which libpg_query's fingerprint does
# not keep (``f(1, 2)`` and ``f(1)`` share one): a call's verdict is literal-sensitive.
ARGUMENT_SENSITIVE = frozenset(_SQL_TEXT_UNLESS_ARGS)

_SESSION = frozenset(["pg_notify", "pg_listening_channels"])

_ALLOW = words(
    """
    pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all
    abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10 min_scale mod pi
    power radians random random_normal round scale sign sqrt trim_scale trunc width_bucket
    setseed erf erfc acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd sin sind tan
    tand sinh cosh tanh asinh acosh atanh
    ascii btrim bit_length char_length character_length chr concat concat_ws format initcap
    left length lower lpad ltrim md5 octet_length overlay position quote_ident quote_literal
    quote_nullable regexp_count regexp_instr regexp_like regexp_match regexp_matches
    regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr repeat replace
    reverse right rpad rtrim split_part starts_with string_to_array string_to_table strpos substr
    substring to_ascii to_hex to_bin to_oct translate unistr upper casefold normalize
    is_normalized like_escape similar_to_escape similar_escape encode decode sha224 sha256
    sha384 sha512 crc32 crc32c get_bit get_byte set_bit set_byte bit_count convert convert_from
    convert_to string_agg array_agg
    age clock_timestamp current_date date_add date_bin date_part date_subtract date_trunc
    extract isfinite justify_days justify_hours justify_interval localtime localtimestamp
    make_date make_interval make_time make_timestamp make_timestamptz now statement_timestamp
    timeofday transaction_timestamp to_char to_date to_number to_timestamp timezone overlaps
    count sum avg min max bool_and bool_or every bit_and bit_or bit_xor stddev stddev_pop
    stddev_samp variance var_pop var_samp corr covar_pop covar_samp regr_avgx regr_avgy
    regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy percentile_cont
    percentile_disc mode any_value grouping json_agg jsonb_agg json_object_agg jsonb_object_agg
    json_agg_strict jsonb_agg_strict json_object_agg_strict jsonb_object_agg_strict
    json_object_agg_unique jsonb_object_agg_unique xmlagg range_agg range_intersect_agg
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
    json_build_object jsonb_build_object json_object jsonb_object json_array_length
    jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
    jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys
    jsonb_object_keys json_populate_record jsonb_populate_record json_populate_recordset
    jsonb_populate_recordset json_array_elements jsonb_array_elements json_array_elements_text
    jsonb_array_elements_text json_typeof jsonb_typeof json_to_record jsonb_to_record
    json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set
    jsonb_set_lax jsonb_insert jsonb_pretty jsonb_path_exists jsonb_path_match jsonb_path_query
    jsonb_path_query_array jsonb_path_query_first jsonb_path_exists_tz jsonb_path_match_tz
    jsonb_path_query_tz jsonb_path_query_array_tz jsonb_path_query_first_tz jsonb_concat
    jsonb_contains jsonb_exists jsonb_populate_record_valid
    array_append array_cat array_dims array_fill array_length array_lower array_ndims
    array_position array_positions array_prepend array_remove array_replace array_reverse
    array_sample array_shuffle array_sort array_to_string array_upper cardinality trim_array
    unnest generate_series generate_subscripts
    coalesce greatest least nullif num_nonnulls num_nulls
    gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp uuid_extract_version
    current_database current_query current_role current_schema current_schemas current_user
    session_user system_user user version inet_client_addr inet_client_port
    inet_server_addr inet_server_port pg_backend_pid pg_blocking_pids pg_conf_load_time
    pg_postmaster_start_time pg_is_in_recovery pg_current_wal_lsn pg_current_wal_insert_lsn
    pg_current_wal_flush_lsn pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_wal_lsn_diff
    pg_last_xact_replay_timestamp pg_walfile_name pg_walfile_name_offset
    pg_jit_available pg_trigger_depth pg_collation_for pg_typeof format_type to_regclass
    to_regcollation to_regnamespace to_regoper to_regoperator to_regproc to_regprocedure
    to_regrole to_regtype to_regtypemod pg_table_is_visible pg_type_is_visible
    pg_function_is_visible has_table_privilege has_column_privilege has_any_column_privilege
    has_database_privilege has_schema_privilege has_sequence_privilege has_function_privilege
    has_type_privilege has_tablespace_privilege has_language_privilege has_server_privilege
    has_foreign_data_wrapper_privilege has_parameter_privilege pg_has_role row_security_active
    pg_get_viewdef pg_get_functiondef pg_get_function_arguments pg_get_function_result
    pg_get_function_identity_arguments pg_get_indexdef pg_get_constraintdef pg_get_triggerdef
    pg_get_ruledef pg_get_expr pg_get_userbyid pg_get_serial_sequence pg_get_keywords
    pg_get_partkeydef pg_get_statisticsobjdef obj_description col_description
    shobj_description pg_relation_size pg_table_size pg_indexes_size pg_total_relation_size
    pg_database_size pg_tablespace_size pg_column_size pg_size_pretty pg_size_bytes
    pg_relation_filenode pg_relation_filepath pg_column_compression pg_char_to_encoding
    pg_encoding_to_char pg_client_encoding pg_input_is_valid pg_input_error_info
    txid_current pg_current_xact_id pg_current_xact_id_if_assigned pg_xact_status
    txid_status pg_current_snapshot pg_snapshot_xmin pg_snapshot_xmax pg_visible_in_snapshot
    currval lastval pg_sequence_last_value pg_get_object_address pg_identify_object
    pg_describe_object pg_options_to_table pg_get_acl
    to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
    ts_rank_cd ts_headline setweight strip numnode querytree tsvector_to_array
    array_to_tsvector ts_delete ts_filter ts_lexize ts_parse ts_token_type ts_debug
    get_current_ts_config length_in_bytes
    abbrev broadcast family host hostmask inet_merge inet_same_family masklen netmask network
    set_masklen text macaddr8_set7bit
    xmlcomment xmlconcat xmlelement xmlforest xmlpi xmlroot xmlexists xml_is_well_formed
    xml_is_well_formed_document xml_is_well_formed_content xpath xpath_exists xmltext
    lower_inc upper_inc lower_inf upper_inf isempty range_merge multirange
    int4range int8range numrange tsrange tstzrange daterange
    area center diameter height isclosed isopen npoints pclose popen radius slope width box
    circle line lseg path point polygon bound_box
    pg_stat_clear_snapshot pg_stat_force_next_flush pg_lock_status pg_safe_snapshot_blocking_pids
    pg_isolation_test_session_is_blocked pg_partition_tree pg_partition_ancestors
    pg_prepared_xact pg_notification_queue_usage pg_last_committed_xact pg_xact_commit_timestamp
    pg_xact_commit_timestamp_origin pg_get_multixact_members pg_is_wal_replay_paused
    pg_get_wal_replay_pause_state pg_get_wal_resource_managers pg_collation_actual_version
    pg_database_collation_actual_version currtid2 amvalidate bernoulli system
    pg_stat_get_recovery_prefetch
    pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls
    pg_stat_get_xact_function_self_time pg_stat_get_xact_function_total_time
    pg_stat_get_xact_numscans pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched
    pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted
    pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated
    """
)

BUILTIN_OPERATORS = words(
    """
    = <> != < > <= >= + - * / % ^ || |/ ||/ @ & | # ~ << >> ~~ !~~ ~~* !~~* ~* !~ !~* @> <@ &&
    ? ?| ?& -> ->> #> #>> #- @? @@ @@@ <-> <<= >>= -|- &< &> <<| |>> &<| |&> ?# ?- ?-| ?||
    ~= <^ >^ !! BETWEEN
    """
) | {"NOT BETWEEN", "BETWEEN SYMMETRIC", "NOT BETWEEN SYMMETRIC"}

# Predefined roles whose grant (or SET ROLE to) opens the server's files or programs.
ESCAPE_ROLES = frozenset(
    [
        "pg_read_server_files",
        "pg_write_server_files",
        "pg_execute_server_program",
        "pg_signal_backend",
        "pg_signal_autovacuum_worker",
    ]
)

# Catalogs that hold credentials, server configuration or other people's data samples.
SENSITIVE_CATALOGS = frozenset(
    [
        "pg_authid",
        "pg_shadow",
        "pg_user_mapping",
        "pg_user_mappings",
        "pg_file_settings",
        "pg_hba_file_rules",
        "pg_ident_file_mappings",
        "pg_largeobject",
        "pg_statistic",
        "pg_subscription",
        "pg_settings",
        "pg_config",
        "pg_db_role_setting",
        "pg_backend_memory_contexts",
        "pg_shmem_allocations",
        "pg_replication_origin_status",
    ]
)

# GUCs drivers and ORMs set that change presentation or the session's own limits only:
# classified as session, not config (asyncpg sets jit; pools set the timeouts).
SESSION_GUCS = frozenset(
    [
        "jit",
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "idle_session_timeout",
        "application_name",
        "extra_float_digits",
        "datestyle",
        "intervalstyle",
        "timezone",
        "client_min_messages",
        "bytea_output",
    ]
)

# SET of these affects the current transaction only. The session-wide defaults
# (default_transaction_read_only, SET SESSION CHARACTERISTICS ...) are config: a read-only lane
# configured on the upstream role must not be undone without review.
TRANSACTION_GUCS = frozenset(
    [
        "transaction",
        "transaction snapshot",
        "transaction_isolation",
        "transaction_read_only",
        "transaction_deferrable",
    ]
)

# Settings SHOW and current_setting may read without review: presentation, limits, versions,
# encodings, locale and planner settings. Any other (paths, commands, connection strings,
# preload libraries, custom settings that often carry application secrets) is held.
READABLE_GUCS = (
    SESSION_GUCS
    | TRANSACTION_GUCS
    | words(
        """
        search_path server_version server_version_num server_encoding client_encoding
        standard_conforming_strings integer_datetimes is_superuser session_authorization role
        max_identifier_length max_index_keys max_function_args block_size wal_block_size
        segment_size lc_collate lc_ctype lc_messages lc_monetary lc_numeric lc_time
        default_text_search_config default_transaction_read_only default_transaction_isolation
        default_transaction_deferrable in_hot_standby work_mem maintenance_work_mem
        max_connections shared_buffers effective_cache_size random_page_cost seq_page_cost
        max_parallel_workers_per_gather default_toast_compression row_security array_nulls
        backslash_quote escape_string_warning transform_null_equals xmlbinary xmloption
        gin_fuzzy_search_limit enable_seqscan enable_indexscan enable_bitmapscan enable_hashjoin
        enable_mergejoin enable_nestloop enable_partition_pruning temp_buffers ssl
        timezone_abbreviations plan_cache_mode from_collapse_limit join_collapse_limit
        cursor_tuple_fraction check_function_bodies synchronous_commit max_stack_depth
        """
    )
)

# Languages whose code cannot reach the operating system. Anything else (c, internal,
# plpython3u, plperlu, pltclu, ...) is an escape.
TRUSTED_LANGUAGES = frozenset(["sql", "plpgsql", "plperl", "pltcl", "plv8", "pljs"])


def function_class(name: str, args: int | None = None) -> FunctionClass:
    """The list a function's bare name is on (case-sensitive, as the server resolves it).

    ``args`` is the number of arguments of a call (None when unknown: a GRANT, a trigger, an
    attribute-notation call): a name that runs SQL text in some of its forms is denied unless
    the call has the count of its harmless form.
    """
    harmless_args = _SQL_TEXT_UNLESS_ARGS.get(name)
    if harmless_args is not None:
        return FunctionClass.ALLOW if args == harmless_args else FunctionClass.DENY
    if name in _ALLOW:
        return FunctionClass.ALLOW
    if name in _DENY or name.startswith(_DENY_PREFIXES):
        return FunctionClass.DENY
    if name in _SETTINGS:
        return FunctionClass.SETTINGS
    if name == "set_config":
        return FunctionClass.CONFIG
    if name in _REVIEW or name.startswith(_REVIEW_PREFIXES):
        return FunctionClass.REVIEW
    if name in _SESSION:
        return FunctionClass.SESSION
    return FunctionClass.USER
