package io.coracle.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What counts as an id, a name, or neither, in an image's User and in passwd/group fields. */
class IdsTest {

    @Test
    void plainDecimalsInRangeAreIds() {
        assertEquals(new Ids.Id("0", 0), Ids.parse("0"));
        assertEquals(new Ids.Id("2147483647", 2147483647L), Ids.parse("2147483647"));
        assertEquals(new Ids.Id("000000000000000000001000", 1000), Ids.parse("000000000000000000001000"));
        assertTrue(Ids.valid(0));
        assertTrue(Ids.valid(Integer.MAX_VALUE));
        assertFalse(Ids.valid(-1));
        assertFalse(Ids.valid(1L << 31));
        assertFalse(Ids.valid(1L << 32));
    }

    @Test
    void numbersOutOfRangeAreInvalidNeverNames() {
        for (String s : List.of("2147483648", "4294967295", "4294967296", "99999999999999999999",
                "9223372036854775808")) {
            assertEquals(new Ids.Invalid(s, "is out of range 0..2147483647"), Ids.parse(s));
        }
        for (String s : List.of("-1", "-0", "+5", "0x10", "1e3", "5a", "1.0")) {
            assertEquals(new Ids.Invalid(s, "is neither a decimal id in 0..2147483647 nor a name"), Ids.parse(s));
        }
        for (String s : List.of("", " 5", "5 ", "a b", "a\tb", "a:b", "a/b", "a\nb", "a\0b")) {
            assertInstanceOf(Ids.Invalid.class, Ids.parse(s), s);
        }
    }

    @Test
    void otherTextIsAName() {
        for (String s : List.of("app", "www-data", "nobody", "_apt", "a1", "user$",
                "\u0663" /* an Arabic-Indic digit: not a decimal id to the kernel, so only ever a name */)) {
            assertEquals(new Ids.Name(s), Ids.parse(s));
        }
    }
}
