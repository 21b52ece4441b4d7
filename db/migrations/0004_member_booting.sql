-- sculpt schema, version 4: a pool member runs until its guest has booted
-- before it is paused (state 'booting', driver/presculpt_pool.h); a pool
-- counts the hand-overs that took a member still booting; the start-up
-- reads live members and the handed-over ones of live instances only.
ALTER TABLE pool_members DROP CONSTRAINT pool_members_state_check;
ALTER TABLE pool_members ADD CONSTRAINT pool_members_state_check
    CHECK (state IN ('preparing', 'booting', 'ready', 'paused', 'handed_over', 'released',
                     'gone'));
DROP INDEX pool_members_live;
CREATE INDEX pool_members_live ON pool_members (pool_key)
    WHERE state IN ('preparing', 'booting', 'ready', 'paused');
CREATE INDEX pool_members_handed_over ON pool_members (instance_uuid)
    WHERE state = 'handed_over';
ALTER TABLE pools ADD COLUMN booting_hits bigint NOT NULL DEFAULT 0;
