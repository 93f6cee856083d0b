package io.coracle.runtime.config;

import java.util.List;

/**
 * One key of coracle.toml: its dotted path (a {@code *} segment matches any table name),
 * its type, its built-in default and the comment printed by {@code coracle config default}.
 */
public record ConfigKey(String path, Type type, Object defaultValue, String doc) {

    /** The TOML value types a key can take. */
    public enum Type {
        STRING("a string"),
        INTEGER("an integer"),
        BOOLEAN("a boolean"),
        STRING_LIST("a list of strings");

        final String description;

        Type(String description) {
            this.description = description;
        }
    }

    public static ConfigKey string(String path, String defaultValue, String doc) {
        return new ConfigKey(path, Type.STRING, defaultValue, doc);
    }

    public static ConfigKey integer(String path, long defaultValue, String doc) {
        return new ConfigKey(path, Type.INTEGER, defaultValue, doc);
    }

    public static ConfigKey bool(String path, boolean defaultValue, String doc) {
        return new ConfigKey(path, Type.BOOLEAN, defaultValue, doc);
    }

    public static ConfigKey stringList(String path, List<String> defaultValue, String doc) {
        return new ConfigKey(path, Type.STRING_LIST, List.copyOf(defaultValue), doc);
    }

    /** Whether this key's pattern matches a concrete dotted path from a file. */
    boolean matches(List<String> concrete) {
        String[] parts = path.split("\\.");
        if (parts.length != concrete.size()) {
            return false;
        }
        for (int i = 0; i < parts.length; i++) {
            if (!parts[i].equals("*") && !parts[i].equals(concrete.get(i))) {
                return false;
            }
        }
        return true;
    }

    /** Whether a concrete table path is a prefix of this key's pattern. */
    boolean underTable(List<String> table) {
        String[] parts = path.split("\\.");
        if (table.size() >= parts.length) {
            return false;
        }
        for (int i = 0; i < table.size(); i++) {
            if (!parts[i].equals("*") && !parts[i].equals(table.get(i))) {
                return false;
            }
        }
        return true;
    }
}
