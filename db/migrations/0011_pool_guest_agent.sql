-- sculpt schema, version 11: a class's template records whether its guests
-- have the QEMU guest agent's channel (an image with hw_qemu_guest_agent),
-- so that its members are made with it and serve that image's builds
-- (before, such builds were never served by a pool).
ALTER TABLE pool_classes ADD COLUMN guest_agent boolean NOT NULL DEFAULT false;
