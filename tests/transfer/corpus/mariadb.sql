-- A realistic MariaDB schema: spatial and full-text indexes, SET/ENUM, unsigned and zero-filled numbers,
-- TIME beyond 24 hours, zero dates, a 64-character name, sequences, and stored code whose DEFINER is a
-- DBA's account. Loaded by tests/transfer/corpus/__init__.py with the mariadb client; __DEFINER__ is
-- replaced by an account the test creates. Every table holds rows; every sequence has moved.

SET NAMES utf8mb4;

CREATE TABLE places (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    location POINT NOT NULL,
    area POLYGON NULL,
    SPATIAL INDEX places_location (location)
) ENGINE=InnoDB;
INSERT INTO places (name, location, area)
SELECT CONCAT('Place ', seq), ST_PointFromText(CONCAT('POINT(', seq / 10, ' ', 45 + seq / 100, ')')),
       IF(seq % 5 = 0, ST_PolygonFromText(CONCAT('POLYGON((0 0, ', seq, ' 0, ', seq, ' ', seq, ', 0 0))')), NULL)
FROM seq_1_to_150;

CREATE TABLE articles (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    body MEDIUMTEXT,
    FULLTEXT INDEX articles_text (title, body)
) ENGINE=InnoDB;
INSERT INTO articles (title, body)
SELECT CONCAT('Article ', seq, ' über Zürich'), REPEAT(CONCAT('word', seq % 17, ' 😀 '), 1 + seq % 30) FROM seq_1_to_120;
DELETE FROM articles WHERE id > 110;  -- AUTO_INCREMENT stays ahead of the highest id

CREATE TABLE options (
    id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    flags SET('bold', 'italic', 'underline', 'strike') NOT NULL DEFAULT '',
    size ENUM('small', 'medium', 'large') NOT NULL DEFAULT 'medium',
    code INT(6) UNSIGNED ZEROFILL NOT NULL,
    big BIGINT UNSIGNED NOT NULL,
    tiny TINYINT UNSIGNED NOT NULL,
    ratio DOUBLE,
    price DECIMAL(10, 2) NOT NULL,
    total DECIMAL(14, 2) AS (price * tiny) STORED,
    label VARCHAR(20) AS (CONCAT(size, '-', code)) VIRTUAL,
    meta JSON
) ENGINE=InnoDB;
INSERT INTO options (flags, size, code, big, tiny, ratio, price, meta)
SELECT ELT(1 + seq % 5, '', 'bold', 'bold,italic', 'underline,strike', 'bold,italic,underline,strike'),
       ELT(1 + seq % 3, 'small', 'medium', 'large'), seq * 7, 18446744073709551615 - seq, seq % 256,
       seq / 3, seq * 1.25, JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('a', seq % 3))
FROM seq_1_to_100;

CREATE TABLE durations (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    spent TIME(1) NOT NULL,
    note VARCHAR(40)
) ENGINE=InnoDB;
INSERT INTO durations (spent, note) VALUES
    ('838:59:59.0', 'the largest TIME'), ('-838:59:59.0', 'the smallest TIME'), ('25:30:00.5', 'over a day'),
    ('100:00:00', 'four days'), ('-01:00:00', 'negative'), ('12:34:56.7', 'within a day');

SET SESSION sql_mode = '';
CREATE TABLE legacy_dates (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    day DATE NOT NULL DEFAULT '0000-00-00',
    moment DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
    partial DATE
) ENGINE=InnoDB;
INSERT INTO legacy_dates (day, moment, partial) VALUES
    ('0000-00-00', '0000-00-00 00:00:00', '2024-00-00'), ('2024-02-29', '2024-02-29 23:59:59', '2024-05-00'),
    ('1999-12-31', '0000-00-00 00:00:00', NULL), ('0000-00-00', '2001-01-01 00:00:00', '2001-01-01');
SET SESSION sql_mode = DEFAULT;

-- A 64-character name: MariaDB's limit; PostgreSQL's is 63.
CREATE TABLE customer_subscription_renewal_notification_preferences_by_region (
    region CHAR(2) NOT NULL,
    channel VARCHAR(10) NOT NULL,
    enabled TINYINT(1) NOT NULL DEFAULT 1,
    PRIMARY KEY (region, channel)
) ENGINE=InnoDB;
INSERT INTO customer_subscription_renewal_notification_preferences_by_region VALUES
    ('eu', 'mail', 1), ('eu', 'sms', 0), ('us', 'mail', 1), ('us', 'push', 1);

-- MixedCase and reserved-word identifiers, a composite key, and a table without a primary key.
CREATE TABLE `OrderLines` (
    `orderId` INT NOT NULL,
    `lineNo` SMALLINT NOT NULL,
    `select` VARCHAR(50) NOT NULL,
    `order` INT,
    PRIMARY KEY (`orderId`, `lineNo`)
) ENGINE=InnoDB;
INSERT INTO `OrderLines` SELECT 1 + seq DIV 3, seq % 3, CONCAT('item ', seq), IF(seq % 4 = 0, NULL, seq) FROM seq_0_to_89;

CREATE TABLE audit_log (
    at DATETIME(6) NOT NULL,
    message TEXT
) ENGINE=InnoDB;
INSERT INTO audit_log VALUES ('2024-01-01 00:00:00', 'start'), ('2024-01-01 00:00:00', 'start'), ('2024-01-02 00:00:00', NULL);

-- The keys of a shop's schema: unique, composite, prefix and descending indexes, foreign keys (to itself, to
-- another table's unique key with ON UPDATE CASCADE, cascading deletes), and an AUTO_INCREMENT column that is
-- not the first of its primary key (it needs a key of its own).
CREATE TABLE vendors (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code CHAR(8) NOT NULL,
    name VARCHAR(120) NOT NULL,
    parent_id INT NULL,
    UNIQUE KEY vendors_code (code),
    KEY vendors_name_prefix (name(20)),
    CONSTRAINT vendors_parent FOREIGN KEY (parent_id) REFERENCES vendors (id) ON DELETE SET NULL
) ENGINE=InnoDB;
INSERT INTO vendors (code, name, parent_id)
SELECT CONCAT('V', LPAD(seq, 7, '0')), CONCAT('Vendor ', seq), IF(seq > 10, seq % 10 + 1, NULL) FROM seq_1_to_200;
CREATE TABLE products (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    vendor_code CHAR(8) NOT NULL,
    sku VARCHAR(40) NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    UNIQUE KEY products_vendor_sku (vendor_code, sku),
    KEY products_price (price DESC),
    CONSTRAINT products_vendor FOREIGN KEY (vendor_code) REFERENCES vendors (code) ON UPDATE CASCADE
) ENGINE=InnoDB;
INSERT INTO products (vendor_code, sku, price)
SELECT CONCAT('V', LPAD(seq % 200 + 1, 7, '0')), CONCAT('SKU-', seq), seq / 7 FROM seq_1_to_1500;
CREATE TABLE product_reviews (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id INT NOT NULL,
    stars TINYINT NOT NULL,
    KEY product_reviews_product_stars (product_id, stars),
    CONSTRAINT product_reviews_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
) ENGINE=InnoDB;
INSERT INTO product_reviews (product_id, stars) SELECT 1 + seq % 1500, 1 + seq % 5 FROM seq_1_to_900;
CREATE TABLE tenant_events (
    tenant INT NOT NULL,
    id BIGINT NOT NULL AUTO_INCREMENT,
    kind VARCHAR(20) NOT NULL,
    PRIMARY KEY (tenant, id),
    KEY tenant_events_id (id),
    KEY tenant_events_kind (kind)
) ENGINE=InnoDB;
INSERT INTO tenant_events (tenant, kind) SELECT seq % 4, ELT(1 + seq % 3, 'open', 'pay', 'close') FROM seq_1_to_300;

-- Sequences: one used as a column default, one standalone, one never used.
CREATE SEQUENCE invoice_numbers START WITH 1000 INCREMENT BY 5;
CREATE SEQUENCE ticket_numbers START WITH 1 INCREMENT BY 1 CACHE 0;
CREATE SEQUENCE never_used START WITH 42;
SELECT NEXTVAL(ticket_numbers) FROM seq_1_to_9;
CREATE TABLE invoices (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    number INT NOT NULL DEFAULT (NEXT VALUE FOR invoice_numbers),
    amount DECIMAL(10, 2) NOT NULL,
    issued TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;
INSERT INTO invoices (amount, issued) SELECT seq * 10.5, TIMESTAMP '2024-06-01 10:00:00' + INTERVAL seq HOUR FROM seq_1_to_25;

-- Stored code created by a DBA: its DEFINER is another account.
CREATE DEFINER = '__DEFINER__'@'%' SQL SECURITY DEFINER VIEW article_titles AS
    SELECT id, title FROM articles;
CREATE DEFINER = '__DEFINER__'@'%' SQL SECURITY INVOKER VIEW big_options AS
    SELECT id, size, code FROM options WHERE tiny > 50;
DELIMITER ;;
CREATE DEFINER = '__DEFINER__'@'%' FUNCTION article_count() RETURNS INT READS SQL DATA
BEGIN
    RETURN (SELECT COUNT(*) FROM articles);
END;;
CREATE DEFINER = '__DEFINER__'@'%' PROCEDURE forget_lines(IN below INT)
BEGIN
    DELETE FROM `OrderLines` WHERE `orderId` < below;
END;;
CREATE DEFINER = '__DEFINER__'@'%' TRIGGER invoices_audit AFTER INSERT ON invoices FOR EACH ROW
BEGIN
    INSERT INTO audit_log VALUES (NOW(6), CONCAT('invoice ', NEW.number));
END;;
DELIMITER ;

ANALYZE TABLE places, articles, options, durations, legacy_dates, `OrderLines`, audit_log, invoices, vendors, products,
    product_reviews, tenant_events;
