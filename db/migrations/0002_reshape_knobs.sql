-- sculpt schema, version 2: which hypervisor knobs each reshape touched
-- (the names of driver/hypervisor.h's enum drv_hv_knob: vcpus, quota, pin,
-- numa, balloon, net, disk) and how many hypervisor calls it took, from
-- drv_hv_reshape()'s report.  Older records touched unknown knobs: none
-- listed.
ALTER TABLE reshapes
    ADD COLUMN knobs text[] NOT NULL DEFAULT '{}',
    ADD COLUMN hv_calls integer NOT NULL DEFAULT 0;
