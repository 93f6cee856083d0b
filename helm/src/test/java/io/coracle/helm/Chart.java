package io.coracle.helm;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Renders the chart with the Helm engine (helm-java) and parses the objects into Fabric8 model classes. */
final class Chart {
    static final Path DIR = Path.of(System.getProperty("coracle.chart", "coracle")).toAbsolutePath();
    static final String RELEASE = "coracle";
    static final String NAMESPACE = "kube-system";
    /** Helm's default (v1.20) is older than the chart's kubeVersion constraint. */
    static final String KUBE_VERSION = "1.33.0";

    private static final ObjectMapper YAML = YAMLMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();
    private static final TomlMapper TOML = new TomlMapper();
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "DaemonSet", DaemonSet.class,
            "ConfigMap", ConfigMap.class,
            "RuntimeClass", RuntimeClass.class,
            "ServiceAccount", ServiceAccount.class);

    private Chart() {
    }

    static Helm helm() {
        return new Helm(DIR);
    }

    /** `helm template` with the given values file content (YAML; null: the chart defaults). */
    static String renderRaw(String valuesYaml, Path tmp) {
        TemplateCommand template = helm().template().withName(RELEASE).withNamespace(NAMESPACE)
                .withKubeVersion(KUBE_VERSION);
        if (valuesYaml != null) {
            try {
                Path values = Files.writeString(Files.createTempFile(tmp, "values", ".yaml"), valuesYaml);
                template = template.withValuesFile(values);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return template.call();
    }

    static Rendered render(String valuesYaml, Path tmp) {
        return Rendered.parse(renderRaw(valuesYaml, tmp));
    }

    /** The objects of one rendering, by kind. */
    record Rendered(List<HasMetadata> objects) {
        static Rendered parse(String manifest) {
            List<HasMetadata> objects = new ArrayList<>();
            try (var parser = new YAMLFactory().createParser(manifest)) {
                for (JsonNode doc : YAML.readValues(parser, JsonNode.class).readAll()) {
                    if (doc == null || doc.isNull() || doc.isEmpty()) {
                        continue;
                    }
                    String kind = doc.path("kind").asText();
                    Class<? extends HasMetadata> type = KINDS.get(kind);
                    if (type == null) {
                        throw new AssertionError("unexpected kind " + kind + " in\n" + manifest);
                    }
                    objects.add(YAML.treeToValue(doc, type));
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new Rendered(objects);
        }

        <T extends HasMetadata> List<T> all(Class<T> type) {
            return objects.stream().filter(type::isInstance).map(type::cast).toList();
        }

        <T extends HasMetadata> T one(Class<T> type) {
            List<T> all = all(type);
            if (all.size() != 1) {
                throw new AssertionError("expected one " + type.getSimpleName() + ", got " + all.size());
            }
            return all.getFirst();
        }

        DaemonSet daemonSet() {
            return one(DaemonSet.class);
        }

        /** The ConfigMap's coracle.toml, parsed. */
        JsonNode toml() {
            String text = one(ConfigMap.class).getData().get("coracle.toml");
            try {
                return TOML.readTree(text);
            } catch (IOException e) {
                throw new AssertionError("coracle.toml does not parse:\n" + text, e);
            }
        }
    }
}
