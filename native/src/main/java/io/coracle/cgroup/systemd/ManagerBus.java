package io.coracle.cgroup.systemd;

import java.util.List;
import org.freedesktop.dbus.DBusPath;
import org.freedesktop.dbus.Struct;
import org.freedesktop.dbus.annotations.DBusInterfaceName;
import org.freedesktop.dbus.annotations.Position;
import org.freedesktop.dbus.interfaces.DBusInterface;
import org.freedesktop.dbus.types.UInt32;
import org.freedesktop.dbus.types.Variant;

/**
 * The methods of {@code org.freedesktop.systemd1.Manager} (object /org/freedesktop/systemd1) that
 * Coracle calls; member names are systemd's, as D-Bus spells them.
 */
@DBusInterfaceName("org.freedesktop.systemd1.Manager")
public interface ManagerBus extends DBusInterface {
    String DESTINATION = "org.freedesktop.systemd1";
    String PATH = "/org/freedesktop/systemd1";

    /** StartTransientUnit(in s name, in s mode, in a(sv) properties, in a(sa(sv)) aux, out o job). */
    DBusPath StartTransientUnit(String name, String mode, List<Property> properties, List<AuxUnit> aux);

    /** StopUnit(in s name, in s mode, out o job). */
    DBusPath StopUnit(String name, String mode);

    /** ResetFailedUnit(in s name). */
    void ResetFailedUnit(String name);

    /** SetUnitProperties(in s name, in b runtime, in a(sv) properties). */
    void SetUnitProperties(String name, boolean runtime, List<Property> properties);

    /** ListUnitsByPatterns(in as states, in as patterns, out a(ssssssouso) units). */
    List<UnitStatus> ListUnitsByPatterns(List<String> states, List<String> patterns);

    /** Subscribe(): without a subscriber systemd sends no JobRemoved signals. */
    void Subscribe();

    /** One unit property, (sv). */
    final class Property extends Struct {
        @Position(0)
        public final String name;
        @Position(1)
        public final Variant<?> value;

        public Property(String name, Variant<?> value) {
            this.name = name;
            this.value = value;
        }
    }

    /** An auxiliary unit of StartTransientUnit, (sa(sv)); Coracle sends none. */
    final class AuxUnit extends Struct {
        @Position(0)
        public final String name;
        @Position(1)
        public final List<Property> properties;

        public AuxUnit(String name, List<Property> properties) {
            this.name = name;
            this.properties = properties;
        }
    }

    /** A row of ListUnitsByPatterns, (ssssssouso). */
    final class UnitStatus extends Struct {
        @Position(0) public final String name;
        @Position(1) public final String description;
        @Position(2) public final String loadState;
        @Position(3) public final String activeState;
        @Position(4) public final String subState;
        @Position(5) public final String following;
        @Position(6) public final DBusPath path;
        @Position(7) public final UInt32 jobId;
        @Position(8) public final String jobType;
        @Position(9) public final DBusPath jobPath;

        public UnitStatus(String name, String description, String loadState, String activeState, String subState,
                          String following, DBusPath path, UInt32 jobId, String jobType, DBusPath jobPath) {
            this.name = name;
            this.description = description;
            this.loadState = loadState;
            this.activeState = activeState;
            this.subState = subState;
            this.following = following;
            this.path = path;
            this.jobId = jobId;
            this.jobType = jobType;
            this.jobPath = jobPath;
        }
    }
}
