#!/usr/bin/env bash
# Configure the local Postfix (Debian package) as a loopback-only benchmark target for
# benchmarks/bench_postfix.py, then start it (or reload it if it is running).
#
# What it sets up:
#   - an smtpd listener on 127.0.0.1:2525 only (the usual port-25 listener is turned off,
#     so nothing on this machine mistakes the benchmark target for a real mail server);
#     inet_interfaces = loopback-only, inet_protocols = ipv4, mynetworks = 127.0.0.0/8;
#   - every message from 127.0.0.0/8 accepted for any recipient (relay allowed from
#     mynetworks only, any local user accepted) and DISCARDED at delivery: default, relay,
#     local and virtual transports are all "discard", so nothing leaves the machine and
#     the queue never grows;
#   - Postfix's normal queueing otherwise: cleanup writes and fsyncs a queue file per
#     message, qmgr schedules it, the discard agent "delivers" it (that is the server cost);
#   - no throttling: message_size_limit 100 MB, per-client rate/count limits off and
#     loopback exempt from anvil, in_flow_delay 0 (no pause when arrival outruns delivery);
#     PIPELINING stays offered (Postfix's default);
#   - logging to /var/log/postfix.log through postlogd (there is often no syslog on a
#     benchmark box or container); bench_postfix.py counts deliveries there.
#
# Idempotent: run it as often as you like. The first run keeps copies of the original
# files as /etc/postfix/{main,master}.cf.pre-mailbill-bench.
#
# Run (as root):  bash benchmarks/postfix_setup.sh
# Stop Postfix:   postfix stop
# Undo:           postfix stop; cd /etc/postfix && cp main.cf.pre-mailbill-bench main.cf \
#                   && cp master.cf.pre-mailbill-bench master.cf
set -euo pipefail

PORT=2525
LOG=/var/log/postfix.log

if [[ $(id -u) -ne 0 ]]; then
    echo "postfix_setup.sh: run me as root (I edit /etc/postfix and start Postfix)" >&2
    exit 1
fi
if ! command -v postconf >/dev/null || ! command -v postfix >/dev/null; then
    echo "postfix_setup.sh: Postfix is not installed (apt-get install postfix)" >&2
    exit 1
fi

config_dir=$(postconf -h config_directory)
for file in main.cf master.cf; do
    if [[ ! -e $config_dir/$file.pre-mailbill-bench ]]; then
        cp -p "$config_dir/$file" "$config_dir/$file.pre-mailbill-bench"
    fi
done

# What needs a full restart rather than a reload if it changes.
before_listen=$(postconf -h inet_interfaces inet_protocols)

postconf -e \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "smtpd_relay_restrictions = permit_mynetworks, reject" \
    "smtpd_recipient_restrictions =" \
    "smtpd_client_restrictions =" \
    "local_recipient_maps =" \
    "relayhost =" \
    "default_transport = discard" \
    "relay_transport = discard" \
    "local_transport = discard" \
    "virtual_transport = discard" \
    "fallback_transport =" \
    "mailbox_transport =" \
    "luser_relay =" \
    "message_size_limit = 104857600" \
    "mailbox_size_limit = 0" \
    "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" \
    "smtpd_client_message_rate_limit = 0" \
    "smtpd_client_recipient_rate_limit = 0" \
    "smtpd_client_new_tls_session_rate_limit = 0" \
    "smtpd_client_auth_rate_limit = 0" \
    "smtpd_client_event_limit_exceptions = 127.0.0.0/8" \
    "in_flow_delay = 0s" \
    "maillog_file = $LOG"

# master.cf: the port-25 listener off, a loopback listener on $PORT (replaced, not duplicated).
if [[ -n $(postconf -M smtp/inet 2>/dev/null) ]]; then
    postconf -M# smtp/inet
fi
postconf -M "127.0.0.1:$PORT/inet=127.0.0.1:$PORT inet n - y - - smtpd"

# The postlog service is needed for maillog_file (present in Debian's master.cf).
if [[ -z $(postconf -M postlog/unix-dgram 2>/dev/null) ]]; then
    postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
fi

# Safety: refuse to go on if anything could still deliver off the machine.
for param in default_transport relay_transport local_transport virtual_transport; do
    value=$(postconf -h "$param")
    if [[ $value != discard ]]; then
        echo "postfix_setup.sh: $param is '$value', expected discard; not starting" >&2
        exit 1
    fi
done

# What Debian's init script does before starting: copy resolver files into the chroot.
if [[ -x /usr/lib/postfix/configure-instance.sh ]]; then
    /usr/lib/postfix/configure-instance.sh -
fi
alias_db=$(postconf -h alias_database)
if [[ $alias_db == hash:/etc/aliases && -f /etc/aliases && ! -f /etc/aliases.db ]]; then
    newaliases
fi

postfix check
after_listen=$(postconf -h inet_interfaces inet_protocols)
if postfix status >/dev/null 2>&1; then
    if [[ $before_listen == "$after_listen" ]]; then
        postfix reload
    else
        # inet_interfaces / inet_protocols are only read at start.
        postfix stop
        postfix start
    fi
else
    postfix start
fi

# Wait for the listener and check that it greets and offers PIPELINING.
greeting=""
for _ in $(seq 50); do
    if exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
        read -r -t 5 greeting <&3 || true
        printf 'EHLO postfix-setup.localhost\r\n' >&3
        ehlo=""
        while read -r -t 5 line <&3; do
            ehlo+="$line"$'\n'
            [[ $line == 250\ * ]] && break
        done
        printf 'QUIT\r\n' >&3
        exec 3<&- 3>&-
        break
    fi
    sleep 0.1
done
if [[ $greeting != 220* ]]; then
    echo "postfix_setup.sh: nothing answers on 127.0.0.1:$PORT; see $LOG" >&2
    exit 1
fi
if [[ $ehlo != *PIPELINING* ]]; then
    echo "postfix_setup.sh: warning: 127.0.0.1:$PORT does not offer PIPELINING" >&2
fi

echo "Postfix is listening on 127.0.0.1:$PORT (loopback only; port 25 is off)."
echo "Every message is accepted and discarded at delivery; nothing leaves this machine."
echo "  greeting: ${greeting%$'\r'}"
echo "  log:      $LOG"
echo "Benchmark:  python benchmarks/bench_postfix.py [--quick] [--count N]"
echo "Stop it:    postfix stop"
echo "Note: mail that local programs submit (sendmail, cron) is discarded too while this config is active;"
echo "      the original config is in $config_dir/{main,master}.cf.pre-mailbill-bench."
