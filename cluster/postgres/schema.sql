-- The core-banking schema of the project's PostgreSQL: applied by `gbank postgres start`
-- (ray_platform.services.postgres) and by CoreBankingDB.create_schema; idempotent.
-- Customers carry no foreign key from accounts: a purge deletes a customer, the accounts stay.
-- REPLICA IDENTITY FULL makes Debezium's updates and deletes carry the whole before image.
CREATE SCHEMA IF NOT EXISTS core;
CREATE TABLE IF NOT EXISTS core.customers (
    customer_id text PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    phone text,
    date_of_birth date,
    national_id text,
    address_line text,
    city text,
    postcode text,
    country text NOT NULL,
    region text NOT NULL,
    iban text,
    segment text NOT NULL,
    kyc_risk_rating text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS core.accounts (
    account_id text PRIMARY KEY,
    customer_id text NOT NULL,
    account_type text NOT NULL,
    status text NOT NULL,
    open_date date NOT NULL,
    product_code text,
    currency text NOT NULL,
    iban text
);
ALTER TABLE core.customers REPLICA IDENTITY FULL;
ALTER TABLE core.accounts REPLICA IDENTITY FULL;
