/* Dial mode: coracle-shim dial --netns PATH --port N --socket UNIXPATH
 *
 * For port forwarding: joins the network namespace at PATH (a netns bind mount or
 * /proc/PID/ns/net), connects a TCP socket to 127.0.0.1:N, or to [::1]:N when that is refused
 * or IPv4 is unavailable there (as containerd does), and hands the connected socket to the
 * daemon: it connects to the unix socket UNIXPATH and sends the fd with SCM_RIGHTS in a
 * 1-byte message ("d"). The daemon tells the requests apart by the sender's PID (SO_PEERCRED).
 * Exits 0 once the fd is sent; on failure it sends nothing, prints one line
 * "coracle-shim dial: <call> ...: <errno text>" on stderr and exits 1 (2 for bad arguments).
 * The connect is a blocking one: a port whose SYNs are dropped holds the helper until the
 * kernel gives up (~2 min) unless the caller kills it first. */
#ifndef CORACLE_DIAL_H
#define CORACLE_DIAL_H
int cmd_dial(int argc, char **argv);
#endif
