-- A realistic PostgreSQL schema: the shapes older applications, sample databases and DBAs leave behind.
-- Loaded by tests/transfer/corpus/__init__.py with psql; __OWNER__ is replaced by a role the test creates.
-- Every table holds rows; every sequence has moved.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE DOMAIN email AS citext CHECK (VALUE ~ '^[^@ ]+@[^@ ]+$');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');

-- An unowned sequence used through DEFAULT nextval(...): the shape of schemas from before serial/identity.
CREATE SEQUENCE legacy_customer_ids START 100 INCREMENT 1;
-- A standalone sequence the application calls itself.
CREATE SEQUENCE invoice_numbers START 1000 INCREMENT 5;
SELECT nextval('invoice_numbers') FROM generate_series(1, 7);
-- A sequence created and never used: is_called is false.
CREATE SEQUENCE never_used_ids START 42;

CREATE TABLE customers (
    id integer NOT NULL DEFAULT nextval('legacy_customer_ids'::regclass) PRIMARY KEY,
    name text NOT NULL,
    email email UNIQUE,
    mood mood NOT NULL DEFAULT 'ok',
    tags text[] NOT NULL DEFAULT '{}',
    scores integer[],
    profile jsonb,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(profile->>'city', ''))) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    valid_until timestamp
);
CREATE INDEX customers_search ON customers USING gin (search);
CREATE INDEX customers_tags ON customers USING gin (tags);
CREATE INDEX customers_lower_name ON customers (lower(name));

INSERT INTO customers (name, email, mood, tags, scores, profile, created_at, valid_until)
SELECT 'Customer ' || i,
       'customer' || i || '@Example.COM',
       (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood,
       ARRAY['t' || (i % 5), 'x"y' || (i % 2)],
       CASE WHEN i % 4 = 0 THEN NULL ELSE ARRAY[i, i * 2, -i] END,
       jsonb_build_object('city', (ARRAY['Lyon', 'Zürich', 'Kraków'])[1 + i % 3], 'n', i, 'nested', jsonb_build_object('ok', i % 2 = 0)),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour 7 minutes',
       CASE WHEN i % 10 = 0 THEN timestamp 'infinity' WHEN i % 10 = 1 THEN timestamp '-infinity'
            ELSE timestamp '2030-01-01' + i * interval '1 day' END
FROM generate_series(1, 200) AS i;
-- Deleted rows leave the sequence ahead of the highest id: its position must be carried, not recomputed.
DELETE FROM customers WHERE id > 290;
SELECT nextval('legacy_customer_ids');

CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 5000) PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    quantity positive_int NOT NULL,
    total numeric(12, 2) NOT NULL CHECK (total >= 0),
    invoice integer DEFAULT nextval('invoice_numbers'),
    placed_at timestamptz NOT NULL,
    ships_by date DEFAULT 'infinity'
);
INSERT INTO orders (customer_id, quantity, total, placed_at, ships_by)
SELECT 100 + i % 190, 1 + i % 7, round((i * 3.7)::numeric, 2), timestamptz '2024-03-01 08:00:00+01' + i * interval '13 minutes',
       CASE WHEN i % 9 = 0 THEN date 'infinity' ELSE date '2024-04-01' + i END
FROM generate_series(1, 300) AS i;

-- serial: an owned sequence, the common case.
CREATE TABLE events (
    id serial PRIMARY KEY,
    kind text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
-- No primary key at all.
CREATE TABLE audit_log (
    at timestamptz NOT NULL,
    message text
);

CREATE FUNCTION log_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (at, message) VALUES (NEW.at, 'event ' || NEW.kind);
    RETURN NEW;
END
$$;
CREATE TRIGGER events_logged AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION log_event();
INSERT INTO events (kind, at)
SELECT (ARRAY['login', 'logout', 'purchase'])[1 + i % 3], timestamptz '2024-05-01 00:00:00+00' + i * interval '1 minute'
FROM generate_series(1, 120) AS i;
INSERT INTO audit_log (at, message) VALUES ('2024-01-01 00:00:00+00', NULL), ('2024-01-01 00:00:00+00', NULL);

-- MixedCase and reserved-word identifiers, a composite primary key.
CREATE TABLE "OrderItems" (
    "orderId" bigint NOT NULL REFERENCES orders (id),
    "lineNo" smallint NOT NULL,
    "select" text NOT NULL,
    "user" text,
    "Price" numeric NOT NULL,
    PRIMARY KEY ("orderId", "lineNo")
);
INSERT INTO "OrderItems"
SELECT o.id, l, 'item-' || l, CASE WHEN l = 2 THEN NULL ELSE 'u' || o.id END, (o.id % 100) / 7.0
FROM orders o CROSS JOIN generate_series(1, 3) AS l;

-- Declarative partitions.
CREATE TABLE measurements (
    city_id integer NOT NULL,
    logdate date NOT NULL,
    peak_c real,
    PRIMARY KEY (city_id, logdate)
) PARTITION BY RANGE (logdate);
CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_other PARTITION OF measurements DEFAULT;
INSERT INTO measurements
SELECT 1 + i % 4, date '2022-12-01' + i * 3, (i % 40) - 5.5 FROM generate_series(0, 250) AS i;

-- Inheritance-based partitions with CHECK constraints (before PostgreSQL 10).
CREATE TABLE cities (
    id integer NOT NULL,
    name text NOT NULL,
    region char(2) NOT NULL
);
CREATE TABLE cities_eu (CHECK (region = 'eu'), PRIMARY KEY (id)) INHERITS (cities);
CREATE TABLE cities_us (CHECK (region = 'us'), PRIMARY KEY (id)) INHERITS (cities);
INSERT INTO cities VALUES (0, 'Nowhere', 'xx');
INSERT INTO cities_eu VALUES (1, 'Lyon', 'eu'), (2, 'Zürich', 'eu'), (3, 'Kraków', 'eu');
INSERT INTO cities_us VALUES (4, 'Boston', 'us'), (5, 'Austin', 'us');

-- A SQL function used by a view, owned by another role (a DBA's).
CREATE FUNCTION customer_total(customer integer) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(total), 0) FROM orders WHERE customer_id = customer
$$;
ALTER FUNCTION customer_total(integer) OWNER TO __OWNER__;
CREATE VIEW customer_totals AS
    SELECT c.id, c.name, customer_total(c.id) AS total FROM customers c;
CREATE MATERIALIZED VIEW mood_counts AS
    SELECT mood, count(*) AS customers FROM customers GROUP BY mood;
CREATE UNIQUE INDEX mood_counts_mood ON mood_counts (mood);

CREATE PROCEDURE forget_events(before timestamptz) LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events WHERE at < before;
END
$$;
ALTER PROCEDURE forget_events(timestamptz) OWNER TO __OWNER__;

ANALYZE;
