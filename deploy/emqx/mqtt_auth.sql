-- The broker's accounts and rights, kept in central's PostgreSQL database (EMQX reads them; see
-- deploy/emqx/emqx.conf and deploy/SCALE-OUT.md). Run once, after central has migrated its schema:
--   psql "$DATABASE_URL" -f deploy/emqx/mqtt_auth.sql
-- Rights are a view over central's registry (the `devices` table that `checkpoint provision` fills),
-- so a box has exactly the topics the Mosquitto ACL of deploy/mosquitto gives it, and none once
-- revoked. Central's account is `central` (its password in <deployment>/central/mqtt.password).

CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- crypt()/gen_salt('bf') for the bcrypt hashes EMQX checks

CREATE TABLE IF NOT EXISTS mqtt_user (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,          -- crypt(password, gen_salt('bf'))
    salt          text NOT NULL DEFAULT ''  -- bcrypt keeps its salt inside the hash
);

CREATE OR REPLACE VIEW mqtt_acl (username, permission, action, topic) AS
    SELECT d.device, 'allow', 'publish', 'checkpoint/v1/' || d.site || '/' || d.device || '/' || k.kind
      FROM devices d CROSS JOIN (VALUES ('verdict'), ('status'), ('metrics'), ('diagnostics')) AS k(kind)
     WHERE NOT d.revoked
    UNION ALL
    SELECT d.device, 'allow', 'subscribe', 'checkpoint/v1/' || d.site || '/' || d.device || '/down/#'
      FROM devices d WHERE NOT d.revoked
    UNION ALL
    SELECT d.device, 'allow', 'subscribe', 'checkpoint/v1/all/down/#'
      FROM devices d WHERE NOT d.revoked
    UNION ALL
    SELECT 'central', 'allow', 'subscribe', 'checkpoint/v1/+/+/' || k.kind
      FROM (VALUES ('verdict'), ('status'), ('metrics'), ('diagnostics')) AS k(kind)
    UNION ALL
    SELECT 'central', 'allow', 'subscribe', '$share/central/checkpoint/v1/+/+/' || k.kind
      FROM (VALUES ('verdict'), ('status'), ('metrics'), ('diagnostics')) AS k(kind)
    UNION ALL
    SELECT 'central', 'allow', 'publish', t
      FROM (VALUES ('checkpoint/v1/+/+/down/#'), ('checkpoint/v1/all/down/#')) AS w(t);
