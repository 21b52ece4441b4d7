#!/usr/bin/python3
"""A real oslo.messaging client for tests/harness/rpc-echo (see
tests/integration/amqp_qos.sh).

    echo_client.py URL TOPIC HOST call VALUE         print the echo
    echo_client.py URL TOPIC HOST burst-behind MS N THREADS TIMEOUT
        a sleep of MS ms cast first, then N echo calls from THREADS
        threads, each allowed TIMEOUT s; prints "burst N calls in S s"
        or fails naming the first error, or when the calls did not all
        come back while the sleep still ran
"""
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging


def main():
    url, topic, host, cmd = sys.argv[1:5]
    # oslo's metrics options live on the global CONF only
    conf = cfg.CONF
    conf([], project='echo-client')
    transport = messaging.get_rpc_transport(conf, url=url)
    # sculpt's control_exchange default, as Nova sets it
    target = messaging.Target(exchange='nova', topic=topic, server=host, version='1.0')
    client = messaging.get_rpc_client(transport, target)
    if cmd == 'call':
        print(client.prepare(timeout=10).call({}, 'echo', value=sys.argv[5]))
    elif cmd == 'burst-behind':
        ms, n, nthreads = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
        timeout = float(sys.argv[8])
        # the same queue delivers in order: the sleep holds its slot first
        client.cast({}, 'sleep', ms=ms)
        t_cast = time.monotonic()
        errors = []
        left = list(range(n))
        lock = threading.Lock()

        def work():
            c = client.prepare(timeout=timeout)
            while True:
                with lock:
                    if not left or errors:
                        return
                    i = left.pop()
                try:
                    got = c.call({}, 'echo', value=i)
                    if got != i:
                        raise ValueError('echo %r came back as %r' % (i, got))
                except Exception as e:  # noqa: BLE001 -- reported below
                    with lock:
                        errors.append('call %d: %s: %s' % (i, type(e).__name__, e))
                    return

        t0 = time.monotonic()
        threads = [threading.Thread(target=work) for _ in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            sys.exit(errors[0])
        took = time.monotonic() - t0
        if time.monotonic() - t_cast >= ms / 1000:
            sys.exit('the calls took %.2f s: they waited for the sleep' % took)
        print('burst %d calls in %.2f s' % (n, took))
    else:
        sys.exit('unknown command %s' % cmd)
    transport.cleanup()


main()
