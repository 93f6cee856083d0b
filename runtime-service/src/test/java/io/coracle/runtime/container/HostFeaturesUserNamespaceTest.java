package io.coracle.runtime.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which handler runs pods with user namespaces, from the kernel's probe and each runtime's own. */
class HostFeaturesUserNamespaceTest {

    @Test
    void eachRuntimeHandlerAnswersWithItsOwnProbe() {
        HostFeatures host = new HostFeatures(null, Map.of(), null, null,
                Map.of("runc", "", "crun", "crun run of a container in a user namespace exited 1: cgroups in hybrid mode"));
        assertTrue(host.userNamespaces(""));
        assertTrue(host.userNamespaces("runc"));
        assertNull(host.userNamespacesMissing("runc"));
        assertFalse(host.userNamespaces("crun"));
        assertEquals("the runtime handler 'crun' does not run pods with user namespaces here: crun run of a container"
                + " in a user namespace exited 1: cgroups in hybrid mode", host.userNamespacesMissing("crun"));
        // A handler never probed never claims them.
        assertEquals("the runtime handler 'kata' does not run pods with user namespaces here: not probed",
                host.userNamespacesMissing("kata"));
    }

    @Test
    void withoutTheKernelNoHandlerRunsThem() {
        HostFeatures host = new HostFeatures(null, Map.of(), null, "idmap layer: EINVAL", Map.of("runc", ""));
        assertFalse(host.userNamespaces(""));
        assertFalse(host.userNamespaces("runc"));
        assertEquals("this host does not run pods with user namespaces: idmap layer: EINVAL", host.userNamespacesMissing("runc"));
        // The old constructors: Coracle's shim per the kernel probe, no runtime handler.
        assertFalse(new HostFeatures(null, Map.of(), null, null).userNamespaces("runc"));
        assertTrue(new HostFeatures(null, Map.of(), null, null).userNamespaces(""));
    }
}
