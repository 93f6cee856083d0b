package io.coracle.oci;

/**
 * User and group ids as containers may take them: 0..2^31-1, the range runc accepts (ids above it
 * wrap to negative values or are truncated to 32 bits by the calls that take them). Every id from an
 * image, a pod spec or an image's /etc/passwd and /etc/group is checked here before it is used.
 */
public final class Ids {
    public static final long MAX = Integer.MAX_VALUE;
    public static final String RANGE = "0.." + MAX;

    private Ids() {
    }

    /** A user or group as written in an image's User, a passwd/group field or a CRI name field. */
    public sealed interface Ref {
        /** The text this was parsed from. */
        String text();
    }

    /** A decimal id in range. */
    public record Id(String text, long value) implements Ref {}

    /** A name, to be looked up in the image's /etc/passwd or /etc/group. */
    public record Name(String text) implements Ref {}

    /** Neither: an id out of range, or text that looks like a number but is not a plain decimal one. */
    public record Invalid(String text, String reason) implements Ref {}

    public static boolean valid(long id) {
        return id >= 0 && id <= MAX;
    }

    /**
     * A plain decimal number ({@code [0-9]+}) is an id and must be in range; anything else starting with
     * a digit, a sign or a blank ("-1", "+5", " 5", "0x10", "1e3"), or holding a blank, a control
     * character, ':' or '/', is invalid; the rest is a name. Empty text is invalid: callers decide what
     * an absent user means.
     */
    public static Ref parse(String text) {
        if (text.isEmpty()) {
            return new Invalid(text, "is empty");
        }
        if (text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            String digits = text.replaceFirst("^0+(?=.)", "");
            if (digits.length() > 10 || Long.parseLong(digits) > MAX) {
                return new Invalid(text, "is out of range " + RANGE);
            }
            return new Id(text, Long.parseLong(digits));
        }
        char first = text.charAt(0);
        if ((first >= '0' && first <= '9') || first == '-' || first == '+') {
            return new Invalid(text, "is neither a decimal id in " + RANGE + " nor a name");
        }
        if (text.chars().anyMatch(c -> c <= ' ' || c == 0x7f || c == ':' || c == '/')
                || text.chars().anyMatch(Character::isWhitespace)) {
            return new Invalid(text, "is not a valid name (blank, control character, ':' or '/')");
        }
        return new Name(text);
    }

    /** The message for an id field out of range, naming the field: "run_as_user 4294967296 is out of range ...". */
    public static String outOfRange(String field, long id) {
        return field + " " + id + " is out of range " + RANGE;
    }
}
