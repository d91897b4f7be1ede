-- `identify` events link an anonymous visitor to the website owner's customer id (with traits),
-- which is what privacy requests and revenue joins look up; API keys get a label and a scope.

ALTER TABLE events ADD COLUMN customer_id TEXT;
-- Trait names to text values.
ALTER TABLE events ADD COLUMN traits JSONB;

ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('touchpoint', 'response', 'identify'));
ALTER TABLE events DROP CONSTRAINT events_check;
ALTER TABLE events ADD CONSTRAINT events_check
    CHECK ((kind = 'touchpoint' AND name IS NOT NULL AND url IS NOT NULL AND score IS NULL AND customer_id IS NULL)
        OR (kind = 'response' AND score IS NOT NULL AND name IS NULL AND customer_id IS NULL)
        OR (kind = 'identify' AND customer_id IS NOT NULL AND name IS NULL AND score IS NULL));

-- Privacy requests find everything of one visitor, or of the visitors one customer used.
CREATE INDEX events_by_visitor ON events (site_id, visitor_id);
CREATE INDEX events_by_customer ON events (site_id, customer_id) WHERE customer_id IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN label TEXT;
-- `read` keys read reports and exports; `admin` keys may also erase a respondent's data.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'read' CHECK (scope IN ('read', 'admin'));
