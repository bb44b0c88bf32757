//! The diesel table definitions, written to match both migration sets (`migrations/sqlite`,
//! `migrations/postgres`). A test checks that the migrated databases have these columns.

diesel::table! {
    users (id) {
        id -> BigInt,
        scim_id -> Text,
        external_id -> Nullable<Text>,
        source -> Nullable<Text>,
        upn -> Text,
        email -> Nullable<Text>,
        display_name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        job_title -> Nullable<Text>,
        department -> Nullable<Text>,
        preferred_language -> Nullable<Text>,
        active -> Bool,
        archived_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// [`identity_key`](crate::matcher::identity_key) of `upn`; NULL until filled.
        upn_key -> Nullable<Text>,
        /// [`identity_key`](crate::matcher::identity_key) of `email`.
        email_key -> Nullable<Text>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
        /// The attributes without a column: a JSON object as text (README, "The application's
        /// tables").
        attributes -> Nullable<Text>,
    }
}

diesel::table! {
    groups (id) {
        id -> BigInt,
        scim_id -> Text,
        external_id -> Nullable<Text>,
        source -> Nullable<Text>,
        display_name -> Text,
        read_only -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// [`identity_key`](crate::matcher::identity_key) of `display_name`; NULL until filled.
        name_key -> Nullable<Text>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
        /// As `users.attributes`.
        attributes -> Nullable<Text>,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    user_links (tenant_id, source, external_id) {
        source -> Text,
        external_id -> Text,
        user_id -> BigInt,
        linked_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    sync_state (tenant_id, connector) {
        connector -> Text,
        cursor -> Nullable<Text>,
        last_success_at -> Nullable<Timestamp>,
        last_full_sync_at -> Nullable<Timestamp>,
        guard_approved -> Bool,
        updated_at -> Timestamp,
        consecutive_failures -> BigInt,
        quarantine_level -> BigInt,
        quarantined_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    leases (tenant_id, connector) {
        connector -> Text,
        holder -> Text,
        expires_at -> Timestamp,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    alert_state (tenant_id, connector, condition) {
        connector -> Text,
        condition -> Text,
        active -> Bool,
        detail -> Text,
        raised_at -> Timestamp,
        last_sent_at -> Nullable<Timestamp>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    runs (id) {
        id -> BigInt,
        connector -> Text,
        mode -> Text,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        fetched_users -> BigInt,
        fetched_groups -> BigInt,
        created -> BigInt,
        updated -> BigInt,
        deactivated -> BigInt,
        reactivated -> BigInt,
        purged -> BigInt,
        groups_changed -> BigInt,
        memberships_added -> BigInt,
        memberships_removed -> BigInt,
        conflicts -> BigInt,
        error -> Nullable<Text>,
        held_changes -> Nullable<Text>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
        /// The process that ran it (`host:pid:suffix`); NULL before schedules were shared.
        worker -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        run_id -> Nullable<BigInt>,
        connector -> Text,
        object_type -> Text,
        object_id -> BigInt,
        object_key -> Text,
        action -> Text,
        detail -> Text,
        created_at -> Timestamp,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    conflicts (id) {
        id -> BigInt,
        connector -> Text,
        run_id -> Nullable<BigInt>,
        external_id -> Text,
        upn -> Nullable<Text>,
        reason -> Text,
        detail -> Text,
        local_user_id -> Nullable<BigInt>,
        other_user_id -> Nullable<BigInt>,
        record -> Text,
        status -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    scim_tokens (id) {
        id -> BigInt,
        token_sha256 -> Text,
        created_at -> Timestamp,
        /// The tenant the row belongs to ([`TenantId`](crate::tenant::TenantId)).
        tenant_id -> Text,
    }
}

diesel::table! {
    /// The customer organizations one process serves; every other table names one.
    tenants (id) {
        id -> Text,
        display_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(user_links -> users (user_id));

diesel::table! {
    connectors (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        settings -> Text,
        key_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// When each connector a worker serves is due (see `store/schedules.rs`).
    schedules (tenant_id, connector) {
        tenant_id -> Text,
        connector -> Text,
        /// `file` or `stored`.
        origin -> Text,
        /// A stored connector's `updated_at` when the row was last synced.
        version -> Nullable<Timestamp>,
        next_due_at -> Timestamp,
    }
}

diesel::table! {
    /// The change feed: one row per applied change, in commit order by `seq`.
    changes (seq) {
        seq -> BigInt,
        tenant_id -> Text,
        /// `user.created`, `group.member_added`, ... (README, "The change feed").
        change_type -> Text,
        object_id -> BigInt,
        scim_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        source -> Text,
        run_id -> Nullable<BigInt>,
        occurred_at -> Timestamp,
        /// A JSON array of field names.
        changed_fields -> Text,
        /// The JSON of the object after the change (and the group and user of a membership).
        data -> Text,
        /// The last change the row holds (`seq` for one; a run of memberships for more).
        last_seq -> BigInt,
        /// The earlier change of the same transaction whose `data` holds this one's `object`.
        object_seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The last `seq` handed out (one row, id 1).
    change_counter (id) {
        id -> Integer,
        last -> BigInt,
    }
}

diesel::table! {
    webhooks (tenant_id, name) {
        tenant_id -> Text,
        name -> Text,
        url -> Text,
        /// The sealed secret; NULL for an endpoint of the configuration file.
        secret -> Nullable<Text>,
        key_id -> Nullable<Text>,
        /// A JSON array of change types; empty means all.
        types -> Text,
        batch_size -> BigInt,
        from_config -> Bool,
        created_after_seq -> BigInt,
        delivered_seq -> BigInt,
        failures -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        tenant_id -> Text,
        webhook -> Text,
        message_id -> Text,
        first_seq -> BigInt,
        last_seq -> BigInt,
        attempted_at -> Timestamp,
        status -> Nullable<BigInt>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    groups,
    group_members,
    user_links,
    sync_state,
    runs,
    events,
    conflicts,
    leases,
    alert_state,
    scim_tokens,
    tenants,
    connectors,
    schedules,
    changes,
    change_counter,
    webhooks,
    webhook_attempts,
);
