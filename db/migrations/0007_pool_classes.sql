-- sculpt schema, version 7: what the pool manager learnt survives a
-- restart (driver/presculpt_pool.h): the request classes it has seen, with
-- the template a member of each is made from (the guest and engine specs
-- of the class's last cold build), and the build requests per class and
-- second the forecaster learns from.  Both are bounded by [database]
-- pool_class_retention and pool_arrival_retention (db/retention.c).

-- One row per class ("flavor:image:project"): the request that defines it,
-- and from its first successful cold build on, its template.
CREATE TABLE pool_classes (
    key text PRIMARY KEY,
    flavor_name text,
    image_ref text,
    project_id text,
    vcpus integer NOT NULL,
    mem_mib float8 NOT NULL,
    root_gb bigint NOT NULL,
    last_request_at timestamptz NOT NULL,
    -- the template; all NULL until a cold build of the class taught it
    learnt_at timestamptz,
    guest_flavor_name text,
    image_kernel text,
    image_initrd text,
    image_cmdline text,
    image_disk_base text,
    image_disk_format text,
    image_root_gb bigint,
    nvifs integer,
    shape_res float8[],
    shape_vcpus_online integer,
    shape_vcpus_max integer,
    shape_mem_max_mib float8,
    shape_pcpus text,
    shape_numa_node integer,
    shape_cpu_weight integer CHECK (shape_cpu_weight BETWEEN 0 AND 10000),
    ceiling float8[],
    vcpus_max integer,
    mem_max_mib float8,
    mem_floor_mib float8,
    CHECK ((learnt_at IS NULL) = (shape_res IS NULL)),
    CHECK ((learnt_at IS NULL) = (ceiling IS NULL))
);
CREATE INDEX pool_classes_last_request ON pool_classes (last_request_at);

-- Build requests of a class in one second (Unix s).
CREATE TABLE pool_arrivals (
    t_s bigint NOT NULL,
    class_key text NOT NULL REFERENCES pool_classes (key) ON DELETE CASCADE,
    n integer NOT NULL CHECK (n > 0),
    PRIMARY KEY (t_s, class_key)
);
CREATE INDEX pool_arrivals_class ON pool_arrivals (class_key);
