package io.coracle.runtime.play;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Volume;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A Kubernetes Pod manifest as {@code coracle play} takes it: parsed with the Fabric8 model, checked
 * for what Coracle needs, and with every set field that play does not support listed by name.
 */
public record PodManifest(Pod pod, List<String> unsupported) {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    /** The fields play understands, as JSON paths ([] for any array element, * for any map key). */
    private static final Set<String> SUPPORTED = Set.of(
            "apiVersion", "kind", "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels.*",
            "metadata.annotations.*",
            "spec.hostname", "spec.hostNetwork", "spec.hostPID", "spec.hostIPC", "spec.dnsPolicy",
            "spec.dnsConfig.nameservers[]", "spec.dnsConfig.searches[]", "spec.dnsConfig.options[].name",
            "spec.dnsConfig.options[].value", "spec.restartPolicy", "spec.terminationGracePeriodSeconds",
            "spec.securityContext.runAsUser", "spec.securityContext.runAsGroup",
            "spec.securityContext.supplementalGroups[]", "spec.securityContext.sysctls[].name",
            "spec.securityContext.sysctls[].value",
            "spec.volumes[].name", "spec.volumes[].hostPath.path", "spec.volumes[].hostPath.type",
            "spec.volumes[].emptyDir.medium", "spec.volumes[].emptyDir.sizeLimit.*",
            "spec.containers[].name", "spec.containers[].image", "spec.containers[].imagePullPolicy",
            "spec.containers[].command[]", "spec.containers[].args[]", "spec.containers[].workingDir",
            "spec.containers[].env[].name", "spec.containers[].env[].value", "spec.containers[].tty",
            "spec.containers[].stdin", "spec.containers[].stdinOnce",
            "spec.containers[].ports[].containerPort", "spec.containers[].ports[].hostPort",
            "spec.containers[].ports[].hostIP", "spec.containers[].ports[].protocol",
            "spec.containers[].ports[].name",
            "spec.containers[].volumeMounts[].name", "spec.containers[].volumeMounts[].mountPath",
            "spec.containers[].volumeMounts[].readOnly", "spec.containers[].volumeMounts[].mountPropagation",
            "spec.containers[].resources.limits.*", "spec.containers[].resources.requests.*",
            "spec.containers[].securityContext.privileged", "spec.containers[].securityContext.runAsUser",
            "spec.containers[].securityContext.runAsGroup",
            "spec.containers[].securityContext.readOnlyRootFilesystem",
            "spec.containers[].securityContext.allowPrivilegeEscalation",
            "spec.containers[].securityContext.capabilities.add[]",
            "spec.containers[].securityContext.capabilities.drop[]");

    /** Reads and checks a manifest; the message of the exception names the file and the field at fault. */
    public static PodManifest load(Path file) throws ManifestException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ManifestException(file + ": no such file");
        } catch (IOException e) {
            throw new ManifestException(file + ": cannot read: " + e.getMessage());
        }
        JsonNode tree;
        Pod pod;
        try {
            tree = YAML.readTree(text);
            if (tree == null || !tree.isObject()) {
                throw new ManifestException(file + ": not a YAML object");
            }
            pod = YAML.treeToValue(tree, Pod.class);
        } catch (IOException e) {
            throw new ManifestException(file + ": not a valid Pod manifest: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (!"Pod".equals(pod.getKind())) {
            throw new ManifestException(file + ": kind is '" + pod.getKind() + "': coracle play runs Pods only");
        }
        if (pod.getApiVersion() != null && !pod.getApiVersion().equals("v1")) {
            throw new ManifestException(file + ": apiVersion '" + pod.getApiVersion() + "' is not v1");
        }
        if (pod.getMetadata() == null || pod.getMetadata().getName() == null
                || !DNS_LABEL.matcher(pod.getMetadata().getName()).matches()) {
            throw new ManifestException(file + ": metadata.name must be a DNS label (lower-case letters, digits, '-')");
        }
        if (pod.getSpec() == null || pod.getSpec().getContainers() == null || pod.getSpec().getContainers().isEmpty()) {
            throw new ManifestException(file + ": spec.containers is empty");
        }
        Set<String> names = new HashSet<>();
        List<Container> containers = pod.getSpec().getContainers();
        for (int i = 0; i < containers.size(); i++) {
            Container c = containers.get(i);
            String where = "spec.containers[" + i + "]";
            if (c.getName() == null || !DNS_LABEL.matcher(c.getName()).matches()) {
                throw new ManifestException(file + ": " + where + ".name must be a DNS label");
            }
            if (!names.add(c.getName())) {
                throw new ManifestException(file + ": " + where + ".name '" + c.getName() + "' is used twice");
            }
            if (c.getImage() == null || c.getImage().isBlank()) {
                throw new ManifestException(file + ": " + where + ".image is empty");
            }
        }
        Set<String> volumes = new HashSet<>();
        List<Volume> vols = pod.getSpec().getVolumes() == null ? List.of() : pod.getSpec().getVolumes();
        for (int i = 0; i < vols.size(); i++) {
            Volume v = vols.get(i);
            if (v.getName() == null || !volumes.add(v.getName())) {
                throw new ManifestException(file + ": spec.volumes[" + i + "].name is missing or used twice");
            }
            if (v.getHostPath() == null && v.getEmptyDir() == null) {
                throw new ManifestException(file + ": spec.volumes[" + i + "] (" + v.getName()
                        + "): only hostPath and emptyDir volumes are supported");
            }
            if (v.getHostPath() != null && (v.getHostPath().getPath() == null || !v.getHostPath().getPath().startsWith("/"))) {
                throw new ManifestException(file + ": spec.volumes[" + i + "].hostPath.path must be absolute");
            }
        }
        for (int i = 0; i < containers.size(); i++) {
            var mounts = containers.get(i).getVolumeMounts() == null ? List.<io.fabric8.kubernetes.api.model.VolumeMount>of()
                    : containers.get(i).getVolumeMounts();
            for (int j = 0; j < mounts.size(); j++) {
                if (!volumes.contains(mounts.get(j).getName())) {
                    throw new ManifestException(file + ": spec.containers[" + i + "].volumeMounts[" + j
                            + "].name '" + mounts.get(j).getName() + "' names no volume");
                }
            }
        }
        List<String> unsupported = new ArrayList<>();
        collectUnsupported(tree, "", "", unsupported);
        return new PodManifest(pod, List.copyOf(unsupported));
    }

    /** Walks the manifest and lists every set leaf whose path is not in {@link #SUPPORTED}. */
    private static void collectUnsupported(JsonNode node, String pattern, String path, List<String> out) {
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                String p = pattern.isEmpty() ? f.getKey() : pattern + "." + f.getKey();
                String concrete = path.isEmpty() ? f.getKey() : path + "." + f.getKey();
                String any = pattern.isEmpty() ? "*" : pattern + ".*";
                if (SUPPORTED.contains(any)) {
                    continue; // a free-form map (labels, annotations, resource names)
                }
                if (!SUPPORTED.contains(p) && SUPPORTED.stream().noneMatch(s -> s.startsWith(p + ".") || s.startsWith(p + "["))) {
                    out.add(concrete);
                    continue;
                }
                collectUnsupported(f.getValue(), p, concrete, out);
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collectUnsupported(node.get(i), pattern + "[]", path + "[" + i + "]", out);
            }
        }
    }

    /** A manifest that cannot be played. */
    public static final class ManifestException extends Exception {
        public ManifestException(String message) {
            super(message);
        }
    }
}
