
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `api_tokens` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `name` varchar(128) NOT NULL,
  `role` varchar(16) NOT NULL,
  `staff_id` bigint(20) DEFAULT NULL,
  `hash` varchar(64) NOT NULL,
  `last_used_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_api_tokens_hash` (`hash`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `api_tokens` VALUES
(1,'laptop','agent',1,'8d58064053ed67a1ee6bcad4d077e24a67ce829e08336cf7736e2fdd6c0104c1',NULL,'2026-11-20 03:00:00.000'),
(2,'bootstrap','admin',NULL,'24e659276016301a97ec0b11c7413f1624d62780973eb41275666f09b9794e12',NULL,'2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `assets` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) NOT NULL,
  `name` varchar(128) NOT NULL,
  `service_interval_days` bigint(20) NOT NULL DEFAULT 0,
  `last_service_at` datetime(3) DEFAULT NULL,
  `next_service_due` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_assets_customer_id` (`customer_id`),
  KEY `idx_assets_next_service_due` (`next_service_due`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `assets` VALUES
(1,1,'车',180,'2026-11-20 03:00:00.000','2027-05-19 00:00:00.000','2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `bind_attempts` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `account` varchar(160) NOT NULL,
  `ok` tinyint(1) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_bind_attempts_account_time` (`account`,`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `binding_codes` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `staff_id` bigint(20) NOT NULL,
  `hash` varchar(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `used_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_binding_codes_hash` (`hash`),
  KEY `idx_binding_codes_staff_id` (`staff_id`),
  KEY `idx_binding_codes_created_at` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `care_runs` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `workflow` varchar(32) NOT NULL,
  `date` varchar(10) NOT NULL,
  `dry_run` tinyint(1) NOT NULL DEFAULT 0,
  `claim_key` varchar(64) NOT NULL,
  `status` varchar(16) NOT NULL,
  `planned` bigint(20) NOT NULL DEFAULT 0,
  `queued` bigint(20) NOT NULL DEFAULT 0,
  `skipped` bigint(20) NOT NULL DEFAULT 0,
  `failed` bigint(20) NOT NULL DEFAULT 0,
  `tasks` bigint(20) NOT NULL DEFAULT 0,
  `duplicates` bigint(20) NOT NULL DEFAULT 0,
  `would_queue` bigint(20) NOT NULL DEFAULT 0,
  `reasons` text DEFAULT NULL,
  `attempts` bigint(20) NOT NULL DEFAULT 0,
  `error` text DEFAULT NULL,
  `claimed_by` varchar(64) NOT NULL DEFAULT '',
  `lease_until` datetime(3) DEFAULT NULL,
  `beats` bigint(20) NOT NULL DEFAULT 0,
  `started_at` datetime(3) DEFAULT NULL,
  `finished_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_care_runs_claim_key` (`claim_key`),
  KEY `ix_care_runs_wf_date` (`workflow`,`date`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `care_runs` VALUES
(1,'birthday','2026-11-20',0,'birthday:2026-11-20','done',0,0,0,0,0,0,0,'',1,'','seed:fc72f42263',NULL,1,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `customer_tags` (
  `customer_id` bigint(20) NOT NULL,
  `tag` varchar(64) NOT NULL,
  PRIMARY KEY (`customer_id`,`tag`),
  KEY `idx_customer_tags_tag` (`tag`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `customer_tags` VALUES
(1,'vip');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `customers` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `name` varchar(128) NOT NULL DEFAULT '',
  `phone` varchar(32) NOT NULL DEFAULT '',
  `email` varchar(254) NOT NULL DEFAULT '',
  `birth_month` bigint(20) NOT NULL DEFAULT 0,
  `birth_day` bigint(20) NOT NULL DEFAULT 0,
  `birth_year` bigint(20) NOT NULL DEFAULT 0,
  `gender` varchar(16) NOT NULL DEFAULT '',
  `company` varchar(128) NOT NULL DEFAULT '',
  `source` varchar(128) NOT NULL DEFAULT '',
  `tier` varchar(1) NOT NULL DEFAULT 'C',
  `stage` varchar(16) NOT NULL DEFAULT 'potential',
  `opt_out` tinyint(1) NOT NULL DEFAULT 0,
  `owner_staff_id` bigint(20) DEFAULT NULL,
  `points` bigint(20) NOT NULL DEFAULT 0,
  `locale` varchar(16) NOT NULL DEFAULT 'zh-CN',
  `external_ref` varchar(64) DEFAULT NULL,
  `last_inbound_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_customers_external_ref` (`external_ref`),
  KEY `idx_customers_name` (`name`),
  KEY `idx_customers_phone` (`phone`),
  KEY `ix_customers_birthday` (`birth_month`,`birth_day`),
  KEY `idx_customers_tier` (`tier`),
  KEY `idx_customers_stage` (`stage`),
  KEY `idx_customers_owner_staff_id` (`owner_staff_id`),
  KEY `idx_customers_last_inbound_at` (`last_inbound_at`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `customers` VALUES
(1,'王芳','+8613800138000','',3,15,1990,'','','api','C','potential',0,NULL,0,'zh-CN',NULL,NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000'),
(2,'李雷','13800138000','',0,0,0,'','','api','C','potential',0,NULL,0,'zh-CN',NULL,NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000'),
(3,'Emma','13900139000','',0,0,0,'','','api','C','potential',0,NULL,0,'zh-CN','crm-3',NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000'),
(4,'Zhang','','',0,0,0,'','','telegram','C','potential',0,NULL,0,'zh-CN',NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `identities` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) NOT NULL,
  `channel` varchar(16) NOT NULL,
  `external_id` varchar(128) NOT NULL,
  `display_name` varchar(128) NOT NULL DEFAULT '',
  `unreachable` tinyint(1) NOT NULL DEFAULT 0,
  `unreachable_reason` varchar(255) NOT NULL DEFAULT '',
  `last_inbound_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_identities_channel_ext` (`channel`,`external_id`),
  KEY `ix_identities_audience` (`customer_id`,`channel`,`external_id`,`unreachable`,`last_inbound_at`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `identities` VALUES
(1,4,'telegram','4242','Zhang',0,'','2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `kv` (
  `name` varchar(191) NOT NULL,
  `value` text NOT NULL,
  `expires_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`name`),
  KEY `idx_kv_expires_at` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `leases` (
  `name` varchar(64) NOT NULL,
  `holder` varchar(64) NOT NULL DEFAULT '',
  `lease_until` datetime(3) NOT NULL,
  `epoch` bigint(20) NOT NULL DEFAULT 0,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `messages` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) DEFAULT NULL,
  `staff_id` bigint(20) DEFAULT NULL,
  `identity_id` bigint(20) DEFAULT NULL,
  `direction` varchar(3) NOT NULL,
  `channel` varchar(16) NOT NULL,
  `chat_id` varchar(128) NOT NULL DEFAULT '',
  `kind` varchar(24) NOT NULL DEFAULT 'text',
  `text` text DEFAULT NULL,
  `raw` text DEFAULT NULL,
  `external_id` varchar(128) DEFAULT NULL,
  `status` char(9) NOT NULL,
  `idempotency_key` varchar(191) DEFAULT NULL,
  `payload` text DEFAULT NULL,
  `workflow` varchar(32) NOT NULL DEFAULT '',
  `template_key` varchar(64) NOT NULL DEFAULT '',
  `template_version` bigint(20) NOT NULL DEFAULT 0,
  `attempts` bigint(20) NOT NULL DEFAULT 0,
  `next_attempt_at` datetime(3) DEFAULT NULL,
  `claimed_by` char(24) NOT NULL DEFAULT '',
  `lease_until` datetime(3) DEFAULT NULL,
  `reason` varchar(255) NOT NULL DEFAULT '',
  `provider_msg_id` char(24) NOT NULL DEFAULT '',
  `sent_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_messages_channel_ext` (`channel`,`external_id`),
  UNIQUE KEY `idx_messages_idempotency_key` (`idempotency_key`),
  KEY `ix_messages_customer_time` (`customer_id`,`created_at`),
  KEY `idx_messages_staff_id` (`staff_id`),
  KEY `ix_messages_queue` (`channel`,`status`,`next_attempt_at`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `messages` VALUES
(1,4,NULL,1,'in','telegram','4242','text','你好','','1001','received',NULL,'','','',0,0,NULL,'362c5038ad72d6b1551573a3',NULL,'','',NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000'),
(2,4,NULL,1,'out','telegram','4242','text','欢迎',NULL,NULL,'queued','reply:1:welcome','','','',0,0,'2026-11-20 03:00:00.000','','1970-01-01 00:00:00.000','','','1970-01-01 00:00:00.000','2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) NOT NULL,
  `kind` varchar(16) NOT NULL,
  `amount` decimal(14,2) NOT NULL DEFAULT 0.00,
  `occurred_at` datetime(3) NOT NULL,
  `asset_id` bigint(20) DEFAULT NULL,
  `dedup_key` varchar(64) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_orders_dedup_key` (`dedup_key`),
  KEY `ix_orders_customer_time` (`customer_id`,`occurred_at`),
  KEY `idx_orders_occurred_at` (`occurred_at`),
  KEY `idx_orders_asset_id` (`asset_id`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `orders` VALUES
(1,1,'service',1280.50,'2026-11-20 03:00:00.000',1,'cc87d423eff53a4415aebaa7bd15ab1e362234baf892666f7f5e95393ea860b9','2026-11-20 03:00:00.000'),
(2,3,'purchase',250000.00,'2026-11-20 03:00:00.000',NULL,NULL,'2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `schema_migrations` (
  `id` varchar(100) NOT NULL,
  `applied_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `schema_migrations` VALUES
('0001_core','2026-11-20 03:00:00.000'),
('0100_leases','2026-11-20 03:00:00.000'),
('0101_outbox_in_place','2026-11-20 03:00:00.000'),
('0300_care_runs','2026-11-20 03:00:00.000'),
('0301_surveys','2026-11-20 03:00:00.000'),
('0301_templates','2026-11-20 03:00:00.000'),
('0500_tasks','2026-11-20 03:00:00.000'),
('0501_staff_bindings','2026-11-20 03:00:00.000'),
('0502_messages_provider_index','2026-11-20 03:00:00.000'),
('0503_tasks_assign_seq','2026-11-20 03:00:00.000'),
('0700_kv','2026-11-20 03:00:00.000'),
('0800_orders_dedup_key','2026-11-20 03:00:00.000'),
('0900_messages_drop_provider_index','2026-11-20 03:00:00.000'),
('0901_identities_audience_index','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `staff` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `name` varchar(128) NOT NULL,
  `role` varchar(16) NOT NULL,
  `active` tinyint(1) NOT NULL DEFAULT 1,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `staff` VALUES
(1,'李娜','agent',1,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `staff_identities` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `staff_id` bigint(20) NOT NULL,
  `channel` varchar(16) NOT NULL,
  `external_id` varchar(128) NOT NULL,
  `chat_id` varchar(128) NOT NULL DEFAULT '',
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_staff_identities_channel_ext` (`channel`,`external_id`),
  KEY `idx_staff_identities_staff_id` (`staff_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `surveys` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) NOT NULL,
  `survey_key` varchar(191) NOT NULL,
  `channel` varchar(16) NOT NULL,
  `chat_id` varchar(128) NOT NULL DEFAULT '',
  `identity_id` bigint(20) DEFAULT NULL,
  `order_date` varchar(10) NOT NULL DEFAULT '',
  `expires_at` datetime(3) NOT NULL,
  `score` bigint(20) DEFAULT NULL,
  `comment` text DEFAULT NULL,
  `answered_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_surveys_key` (`survey_key`),
  KEY `ix_surveys_customer` (`customer_id`,`created_at`),
  KEY `idx_surveys_answered_at` (`answered_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `task_events` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `task_id` bigint(20) NOT NULL,
  `staff_id` bigint(20) DEFAULT NULL,
  `via` varchar(16) NOT NULL,
  `action` varchar(24) NOT NULL,
  `from_value` varchar(64) NOT NULL DEFAULT '',
  `to_value` varchar(64) NOT NULL DEFAULT '',
  `note` text DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_task_events_task_id` (`task_id`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `task_events` VALUES
(1,1,NULL,'system','created','','manual','','2026-11-20 03:00:00.000'),
(2,1,NULL,'system','assigned','','1','','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `tasks` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `customer_id` bigint(20) NOT NULL,
  `kind` varchar(24) NOT NULL,
  `priority` varchar(8) NOT NULL,
  `title` varchar(200) NOT NULL,
  `detail` text DEFAULT NULL,
  `assignee_id` bigint(20) DEFAULT NULL,
  `status` varchar(16) NOT NULL,
  `due_at` datetime(3) DEFAULT NULL,
  `outcome` text DEFAULT NULL,
  `source` varchar(64) NOT NULL DEFAULT '',
  `dedup_key` varchar(191) DEFAULT NULL,
  `open_slot` varchar(64) DEFAULT NULL,
  `notified_assignee` bigint(20) DEFAULT NULL,
  `assign_seq` bigint(20) NOT NULL DEFAULT 0,
  `notified_seq` bigint(20) NOT NULL DEFAULT 0,
  `overdue_at` datetime(3) DEFAULT NULL,
  `escalated_at` datetime(3) DEFAULT NULL,
  `closed_at` datetime(3) DEFAULT NULL,
  `closed_by` bigint(20) DEFAULT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_tasks_dedup_key` (`dedup_key`),
  UNIQUE KEY `idx_tasks_open_slot` (`open_slot`),
  KEY `idx_tasks_customer_id` (`customer_id`),
  KEY `ix_tasks_assignee_status` (`assignee_id`,`status`),
  KEY `ix_tasks_status_due` (`status`,`due_at`),
  KEY `idx_tasks_closed_at` (`closed_at`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `tasks` VALUES
(1,1,'manual','normal','回访','',1,'open',NULL,'','','t1',NULL,NULL,1,0,NULL,NULL,NULL,NULL,'2026-11-20 03:00:00.000','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `template_audits` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `template_key` varchar(64) NOT NULL,
  `locale` varchar(16) NOT NULL,
  `action` varchar(16) NOT NULL,
  `version` bigint(20) NOT NULL,
  `prev_version` bigint(20) NOT NULL,
  `actor` varchar(128) NOT NULL DEFAULT '',
  `staff_id` bigint(20) DEFAULT NULL,
  `source` varchar(16) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_template_audits_key` (`template_key`,`locale`)
) ENGINE=InnoDB AUTO_INCREMENT=2 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `template_audits` VALUES
(1,'birthday','zh-CN','save',2,1,'x',NULL,'api','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `template_drafts` (
  `staff_id` bigint(20) NOT NULL,
  `template_key` varchar(64) NOT NULL,
  `locale` varchar(16) NOT NULL,
  `body` text NOT NULL,
  `nonce` varchar(32) NOT NULL,
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`staff_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `template_heads` (
  `template_key` varchar(64) NOT NULL,
  `locale` varchar(16) NOT NULL,
  `latest` bigint(20) NOT NULL,
  `active` bigint(20) NOT NULL,
  `updated_by` varchar(128) NOT NULL DEFAULT '',
  `updated_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`template_key`,`locale`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `template_heads` VALUES
('birthday','zh-CN',2,2,'x','2026-11-20 03:00:00.000');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `template_versions` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `template_key` varchar(64) NOT NULL,
  `locale` varchar(16) NOT NULL,
  `version` bigint(20) NOT NULL,
  `body` text NOT NULL,
  `author` varchar(128) NOT NULL DEFAULT '',
  `staff_id` bigint(20) DEFAULT NULL,
  `source` varchar(16) NOT NULL DEFAULT '',
  `created_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_template_versions` (`template_key`,`locale`,`version`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `template_versions` VALUES
(1,'birthday','zh-CN',1,'生日快乐','',NULL,'default','2026-11-20 03:00:00.000'),
(2,'birthday','zh-CN',2,'{{.Customer.Name}}，生日快乐！','x',NULL,'api','2026-11-20 03:00:00.000');
