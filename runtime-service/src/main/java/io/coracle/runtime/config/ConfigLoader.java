package io.coracle.runtime.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads coracle.toml strictly: unknown keys and wrong types are errors naming the file and key. */
public final class ConfigLoader {
    private static final TomlMapper TOML = new TomlMapper();

    private ConfigLoader() {
    }

    /**
     * Loads a config file. A missing file is an error only when {@code required} (the user named it);
     * the default path may be absent, and then every key takes its default.
     */
    public static Map<String, Object> load(Path file, boolean required) throws ConfigException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            if (required) {
                throw new ConfigException("config file " + file + " does not exist");
            }
            return Map.of();
        } catch (AccessDeniedException e) {
            throw new ConfigException("cannot read config file " + file + ": permission denied");
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** Parses TOML text; {@code source} names the file in error messages. */
    public static Map<String, Object> parse(String text, String source) throws ConfigException {
        JsonNode root;
        try {
            root = TOML.readTree(text);
        } catch (JacksonException e) {
            throw new ConfigException(source + ": not valid TOML: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : ""), e);
        }
        Map<String, Object> values = new LinkedHashMap<>();
        if (root != null) {
            walk(root, new ArrayList<>(), source, values);
        }
        return values;
    }

    private static void walk(JsonNode table, List<String> path, String source, Map<String, Object> out)
            throws ConfigException {
        for (Iterator<Map.Entry<String, JsonNode>> it = table.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            List<String> keyPath = new ArrayList<>(path);
            keyPath.add(field.getKey());
            String dotted = String.join(".", keyPath);
            JsonNode value = field.getValue();
            var key = ConfigSchema.find(keyPath);
            if (key.isEmpty()) {
                if (value.isObject() && ConfigSchema.isTable(keyPath)) {
                    walk(value, keyPath, source, out);
                    continue;
                }
                throw new ConfigException(source + ": unknown key '" + dotted + "'");
            }
            out.put(dotted, convert(key.get(), value, source, dotted));
        }
    }

    private static Object convert(ConfigKey key, JsonNode value, String source, String dotted) throws ConfigException {
        switch (key.type()) {
            case STRING -> {
                if (value.isTextual()) {
                    return value.textValue();
                }
            }
            case INTEGER -> {
                if (value.isIntegralNumber() && value.canConvertToLong()) {
                    return value.longValue();
                }
            }
            case BOOLEAN -> {
                if (value.isBoolean()) {
                    return value.booleanValue();
                }
            }
            case STRING_LIST -> {
                if (value.isArray()) {
                    List<String> list = new ArrayList<>();
                    boolean allText = true;
                    for (JsonNode element : value) {
                        allText &= element.isTextual();
                        list.add(element.asText());
                    }
                    if (allText) {
                        return List.copyOf(list);
                    }
                }
            }
        }
        throw new ConfigException(source + ": key '" + dotted + "' must be " + key.type().description
                + ", got " + describe(value));
    }

    private static String describe(JsonNode value) {
        if (value.isTextual()) {
            return "a string";
        }
        if (value.isIntegralNumber()) {
            return "an integer";
        }
        if (value.isNumber()) {
            return "a number";
        }
        if (value.isBoolean()) {
            return "a boolean";
        }
        if (value.isArray()) {
            return "an array";
        }
        if (value.isObject()) {
            return "a table";
        }
        return value.getNodeType().toString().toLowerCase();
    }
}
