-- sculpt schema, version 9: an intent for the legs of a move between
-- hosts (openstack/compute_migrate.c): resize_instance on the source (the
-- guest off, its files copied) and finish_resize on the destination (the
-- files taken in, the guest defined), so that a restart reads what this
-- host was doing from its own journal, not only from Nova's task state.
ALTER TABLE intents DROP CONSTRAINT intents_op_check;
ALTER TABLE intents ADD CONSTRAINT intents_op_check
    CHECK (op IN ('spawn', 'reshape', 'destroy', 'handover', 'migrate'));
