package io.coracle.cgroup.systemd;

import io.coracle.cgroup.systemd.ManagerBus.Property;
import io.coracle.oci.Resources;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;
import org.freedesktop.dbus.connections.impl.DBusConnection;
import org.freedesktop.dbus.connections.impl.DBusConnectionBuilder;
import org.freedesktop.dbus.exceptions.DBusException;
import org.freedesktop.dbus.exceptions.DBusExecutionException;
import org.freedesktop.dbus.matchrules.DBusMatchRuleBuilder;
import org.freedesktop.dbus.messages.DBusSignal;
import org.freedesktop.dbus.messages.constants.MessageTypes;
import org.freedesktop.dbus.types.UInt32;
import org.freedesktop.dbus.types.UInt64;
import org.freedesktop.dbus.types.Variant;

/**
 * The systemd cgroup driver's side of systemd: pod slices and scopes (the pause process's, one per
 * container) started as transient units through systemd's D-Bus API, with Delegate=yes and the
 * limits as unit properties, as runc's systemd driver does. Every start and stop waits for its
 * job's JobRemoved signal, with a timeout.
 */
public final class SystemdUnits implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SystemdUnits.class.getName());
    /** Where the system bus listens (dbus-daemon's and dbus-broker's default). */
    public static final Path DEFAULT_BUS = Path.of("/run/dbus/system_bus_socket");
    static final Duration JOB_TIMEOUT = Duration.ofSeconds(30);
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30); // the first connection may start dbus-daemon (socket activation)
    private static final String UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists";
    private static final String NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit";
    private static final UInt64 INFINITY = new UInt64(UInt64.MAX_BIG_VALUE);
    /** systemd's CPUQuotaPerSecUSec has a 10 ms granularity. */
    private static final long QUOTA_STEP_USEC = 10_000;
    /** The highest CPU or memory node number accepted in a cpuset list (systemd's own bound is 8192). */
    static final int MAX_CPU = 8191;

    private final Path bus;
    private final DBusConnection connection;
    private final ManagerBus manager;
    private final AutoCloseable jobSignals;
    private final boolean cgroupV2;
    /** The start or stop job Coracle waits for, by unit name (one job per unit at a time). */
    private final Map<String, CompletableFuture<String>> jobs = new ConcurrentHashMap<>();

    private SystemdUnits(Path bus, DBusConnection connection, boolean cgroupV2) throws DBusException {
        this.bus = bus;
        this.connection = connection;
        this.cgroupV2 = cgroupV2;
        this.manager = connection.getRemoteObject(ManagerBus.DESTINATION, ManagerBus.PATH, ManagerBus.class);
        this.jobSignals = connection.addGenericSigHandler(DBusMatchRuleBuilder.create()
                .withType(MessageTypes.SIGNAL).withInterface("org.freedesktop.systemd1.Manager")
                .withMember("JobRemoved").withPath(ManagerBus.PATH).build(), this::jobRemoved);
    }

    /**
     * Connects to systemd on the system bus at {@code busSocket}; fails, saying why, when the bus or
     * systemd on it cannot be reached (the daemon then refuses to start with the systemd driver).
     */
    public static SystemdUnits connect(Path busSocket, boolean cgroupV2) throws IOException {
        if (!Files.exists(busSocket)) {
            throw new IOException("the system bus socket " + busSocket + " does not exist (is systemd running, with"
                    + " D-Bus?): the systemd cgroup driver creates pod slices and container scopes through it");
        }
        // The library's authentication reads without a deadline: it runs on a thread of its own, which
        // is interrupted (closing its socket) when the bus has not answered in time.
        CompletableFuture<DBusConnection> connecting = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().daemon().name("systemd-bus-connect").start(() -> {
            try {
                connecting.complete(DBusConnectionBuilder.forAddress("unix:path=" + addressValue(busSocket.toString()))
                        .withShared(false).build());
            } catch (Throwable e) {
                connecting.completeExceptionally(e);
            }
        });
        DBusConnection c;
        try {
            c = connecting.get(CONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            t.interrupt();
            connecting.thenAccept(DBusConnection::disconnect);
            throw new IOException("cannot connect to the system bus at " + busSocket + ": no D-Bus answer within "
                    + CONNECT_TIMEOUT.toSeconds() + " s");
        } catch (InterruptedException e) {
            t.interrupt();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted connecting to the system bus at " + busSocket, e);
        } catch (ExecutionException e) {
            throw new IOException("cannot connect to the system bus at " + busSocket + ": " + e.getCause().getMessage(),
                    e.getCause());
        }
        try {
            SystemdUnits units = new SystemdUnits(busSocket, c, cgroupV2);
            units.manager.Subscribe(); // also proves that systemd answers on this bus
            return units;
        } catch (DBusException | RuntimeException e) {
            c.disconnect();
            throw new IOException("systemd does not answer on the system bus at " + busSocket + ": " + e.getMessage(), e);
        }
    }

    public Path bus() {
        return bus;
    }

    /**
     * Starts a slice (its parent is implied by its name and named in Wants=), with the limits;
     * false when it exists already (e.g. the kubelet's pod slice), which then keeps its own limits.
     */
    public boolean startSlice(String slice, Resources limits) throws IOException {
        List<Property> p = new ArrayList<>();
        p.add(prop("Description", "Coracle pod slice " + slice));
        String parent = parentSlice(slice);
        if (!parent.equals("-.slice")) {
            p.add(new Property("Wants", new Variant<>(List.of(parent), "as")));
        }
        p.add(prop("DefaultDependencies", false));
        accounting(p);
        p.addAll(limits(limits, cgroupV2));
        return start(slice, p);
    }

    /** Starts a scope holding {@code pid} in {@code slice}, with Delegate=yes and the limits. */
    public void startScope(String scope, String slice, long pid, String description, Resources limits) throws IOException {
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("pid " + pid + " out of range");
        }
        List<Property> p = new ArrayList<>();
        p.add(prop("Description", description));
        p.add(prop("Slice", slice));
        p.add(prop("Delegate", true));
        p.add(new Property("PIDs", new Variant<>(List.of(new UInt32(pid)), "au")));
        p.add(prop("DefaultDependencies", false));
        accounting(p);
        p.addAll(limits(limits, cgroupV2));
        if (!start(scope, p)) {
            throw new IOException("systemd unit " + scope + " exists already");
        }
    }

    /** New limits on a running unit (SetUnitProperties, runtime: not persisted across a reboot). */
    public void update(String unit, Resources limits) throws IOException {
        List<Property> p = limits(limits, cgroupV2);
        if (p.isEmpty()) {
            return;
        }
        try {
            manager.SetUnitProperties(unit, true, p);
        } catch (DBusExecutionException e) {
            throw new IOException("systemd SetUnitProperties " + unit + " " + show(p) + ": " + e.getMessage(), e);
        }
        LOG.fine(() -> "systemd: " + unit + " set " + show(p));
    }

    /** Stops the unit (its processes get systemd's stop signal) and forgets a failed state; nothing if it is gone. */
    public void stop(String unit) throws IOException {
        CompletableFuture<String> done = new CompletableFuture<>();
        jobs.put(unit, done);
        try {
            try {
                manager.StopUnit(unit, "replace");
            } catch (DBusExecutionException e) {
                if (isError(e, NO_SUCH_UNIT, " not loaded.", " not found.")) {
                    return;
                }
                throw new IOException("systemd StopUnit " + unit + ": " + e.getMessage(), e);
            }
            String result = await(done, unit, "stop");
            if (!result.equals("done")) {
                LOG.warning("systemd: stopping " + unit + " ended with '" + result + "'");
            }
        } finally {
            jobs.remove(unit, done);
            resetFailed(unit);
        }
        LOG.fine(() -> "systemd: " + unit + " stopped");
    }

    /** The names of loaded units matching any of the glob patterns (e.g. coracle-*.scope). */
    public List<String> list(List<String> patterns) throws IOException {
        try {
            return manager.ListUnitsByPatterns(List.of(), patterns).stream().map(u -> u.name).toList();
        } catch (DBusExecutionException e) {
            throw new IOException("systemd ListUnitsByPatterns " + patterns + ": " + e.getMessage(), e);
        }
    }

    private void resetFailed(String unit) {
        try {
            manager.ResetFailedUnit(unit);
        } catch (DBusExecutionException e) {
            if (!isError(e, NO_SUCH_UNIT, " not loaded.", " not found.")) {
                LOG.fine(() -> "systemd ResetFailedUnit " + unit + ": " + e.getMessage());
            }
        }
    }

    /** StartTransientUnit in mode "replace", waiting for its job; false when the unit exists already. */
    private boolean start(String unit, List<Property> properties) throws IOException {
        CompletableFuture<String> done = new CompletableFuture<>();
        jobs.put(unit, done);
        try {
            try {
                manager.StartTransientUnit(unit, "replace", properties, List.of());
            } catch (DBusExecutionException e) {
                if (isError(e, UNIT_EXISTS, " already exists.")) {
                    return false;
                }
                throw new IOException("systemd StartTransientUnit " + unit + ": " + e.getMessage(), e);
            }
            String result = await(done, unit, "start");
            if (!result.equals("done")) {
                resetFailed(unit);
                throw new IOException("systemd could not start " + unit + ": its job ended '" + result + "'");
            }
        } finally {
            jobs.remove(unit, done);
        }
        LOG.fine(() -> "systemd: " + unit + " started with " + show(properties));
        return true;
    }

    /**
     * Whether systemd answered with the D-Bus error {@code name}; dbus-java does not always carry the
     * name of an error it has no class for, so systemd's message for it ("Unit x not loaded.") counts too.
     */
    static boolean isError(DBusExecutionException e, String name, String... messageEnds) {
        if (name.equals(e.getType()) || e.getClass().getName().equals(name)) {
            return true;
        }
        String m = e.getMessage() == null ? "" : e.getMessage().strip();
        for (String end : messageEnds) {
            if (m.startsWith("Unit ") && m.endsWith(end)) {
                return true;
            }
        }
        return false;
    }

    private static String await(CompletableFuture<String> done, String unit, String what) throws IOException {
        try {
            return done.get(JOB_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IOException("systemd did not finish the " + what + " job of " + unit + " within " + JOB_TIMEOUT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for systemd to " + what + " " + unit, e);
        } catch (ExecutionException e) {
            throw new IOException("waiting for systemd to " + what + " " + unit + ": " + e.getCause(), e.getCause());
        }
    }

    /** JobRemoved(u id, o job, s unit, s result): completes the job Coracle waits for on that unit. */
    private void jobRemoved(DBusSignal signal) {
        try {
            Object[] args = signal.getParameters();
            if (args.length == 4 && args[2] instanceof String unit && args[3] instanceof String result) {
                CompletableFuture<String> f = jobs.get(unit);
                if (f != null) {
                    f.complete(result);
                }
            }
        } catch (DBusException e) {
            LOG.fine(() -> "systemd: unreadable JobRemoved signal: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        try {
            jobSignals.close();
        } catch (Exception e) {
            LOG.fine(() -> "systemd: removing the JobRemoved handler: " + e);
        }
        connection.disconnect();
    }

    static String show(List<Property> p) {
        return p.stream().map(x -> x.name + "=" + (x.value.getValue() instanceof byte[] b
                ? java.util.HexFormat.of().formatHex(b) : String.valueOf(x.value.getValue())))
                .collect(java.util.stream.Collectors.joining(" "));
    }

    private static void accounting(List<Property> p) {
        for (String a : List.of("MemoryAccounting", "CPUAccounting", "TasksAccounting", "IOAccounting")) {
            p.add(prop(a, true));
        }
    }

    private static Property prop(String name, Object value) {
        return new Property(name, new Variant<>(value));
    }

    /** kubepods-burstable-pod1.slice → kubepods-burstable.slice; kubepods.slice → -.slice (the root). */
    static String parentSlice(String slice) {
        String base = slice.substring(0, slice.length() - ".slice".length());
        int dash = base.lastIndexOf('-');
        return dash <= 0 ? "-.slice" : base.substring(0, dash) + ".slice";
    }

    /**
     * The OCI resources as systemd properties: on cgroup v2 MemoryMax, MemorySwapMax, CPUWeight,
     * CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec), TasksMax, AllowedCPUs, AllowedMemoryNodes; on v1
     * MemoryLimit, CPUShares, the quota and TasksMax. What systemd has no property for (hugetlb,
     * the unified map, a memory reservation) stays with the shim's cgroup files.
     */
    static List<Property> limits(Resources r, boolean v2) {
        List<Property> p = new ArrayList<>();
        if (r == null) {
            return p;
        }
        Resources.Memory m = r.memory();
        if (m != null && m.limit() != null && m.limit() != 0) {
            p.add(new Property(v2 ? "MemoryMax" : "MemoryLimit", new Variant<>(bytes(m.limit()))));
            if (v2 && m.swap() != null && m.swap() != 0 && (m.swap() == -1 || m.limit() > 0 && m.swap() >= m.limit())) {
                p.add(new Property("MemorySwapMax", new Variant<>(m.swap() == -1 || m.limit() == -1
                        ? INFINITY : new UInt64(m.swap() - m.limit()))));
            }
        }
        Resources.Cpu c = r.cpu();
        if (c != null) {
            if (c.shares() != null && c.shares() > 0) {
                long shares = Math.clamp(c.shares(), 2, 262_144);
                p.add(new Property(v2 ? "CPUWeight" : "CPUShares",
                        new Variant<>(new UInt64(v2 ? 1 + ((shares - 2) * 9999) / 262_142 : shares))));
            }
            long period = c.period() != null && c.period() > 0 ? c.period() : 100_000;
            if (c.quota() != null && c.quota() != 0) {
                if (c.quota() > 0) {
                    long perSec = Math.multiplyExact(c.quota(), 1_000_000L) / period;
                    perSec = (perSec + QUOTA_STEP_USEC - 1) / QUOTA_STEP_USEC * QUOTA_STEP_USEC;
                    p.add(new Property("CPUQuotaPerSecUSec", new Variant<>(new UInt64(perSec))));
                } else {
                    p.add(new Property("CPUQuotaPerSecUSec", new Variant<>(INFINITY)));
                }
            }
            if (c.period() != null && c.period() > 0) {
                p.add(new Property("CPUQuotaPeriodUSec", new Variant<>(new UInt64(c.period()))));
            }
            if (v2 && c.cpus() != null && !c.cpus().isEmpty()) {
                p.add(new Property("AllowedCPUs", new Variant<>(cpuMask(c.cpus()), "ay")));
            }
            if (v2 && c.mems() != null && !c.mems().isEmpty()) {
                p.add(new Property("AllowedMemoryNodes", new Variant<>(cpuMask(c.mems()), "ay")));
            }
        }
        if (r.pids() != null && r.pids().limit() != 0) {
            p.add(new Property("TasksMax", new Variant<>(bytes(r.pids().limit()))));
        }
        return p;
    }

    private static UInt64 bytes(long v) {
        return v < 0 ? INFINITY : new UInt64(v);
    }

    /**
     * A cpuset list ("0-3,8") as systemd's bit mask: byte i holds CPUs 8i..8i+7, the lowest in bit
     * 0. Numbers above {@link #MAX_CPU}, reversed ranges and anything but digits, ',' and '-' are refused.
     */
    static byte[] cpuMask(String list) {
        BigInteger bits = BigInteger.ZERO;
        for (String part : list.trim().split(",")) {
            String[] ends = part.trim().split("-", -1);
            if (ends.length > 2 || !part.trim().matches("\\d{1,5}(-\\d{1,5})?")) {
                throw new IllegalArgumentException("cpuset list '" + list + "': '" + part + "' is not N or N-M");
            }
            int lo = Integer.parseInt(ends[0]);
            int hi = ends.length == 2 ? Integer.parseInt(ends[1]) : lo;
            if (lo > hi || hi > MAX_CPU) {
                throw new IllegalArgumentException("cpuset list '" + list + "': '" + part + "' is out of range 0-" + MAX_CPU);
            }
            for (int i = lo; i <= hi; i++) {
                bits = bits.setBit(i);
            }
        }
        byte[] big = bits.toByteArray(); // big-endian, maybe with a leading sign byte
        int n = (bits.bitLength() + 7) / 8;
        byte[] little = new byte[Math.max(n, 1)];
        for (int i = 0; i < n; i++) {
            little[i] = big[big.length - 1 - i];
        }
        return little;
    }

    /** A D-Bus address value: bytes other than [-0-9A-Za-z_/.\*] escaped as %xx. */
    static String addressValue(String s) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            char ch = (char) (b & 0xff);
            if (ch < 0x80 && (Character.isLetterOrDigit(ch) || "-_/.\\*".indexOf(ch) >= 0)) {
                out.append(ch);
            } else {
                out.append('%').append(String.format("%02x", b & 0xff));
            }
        }
        return out.toString();
    }
}
