package io.coracle.image;

import io.coracle.cri.v1.Image;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;

import io.coracle.image.store.ImageRecord;

/** Turns an image record into the CRI {@code Image} message. */
final class CriImageView {
    private CriImageView() {
    }

    static Image of(ImageRecord r, ImageService images) {
        Image.Builder b = Image.newBuilder()
                .setId(r.id())
                .addAllRepoTags(r.repoTags())
                .addAllRepoDigests(r.repoDigests())
                .setSize(r.size())
                .setSpec(ImageSpec.newBuilder().setImage(r.id()))
                .setPinned(images.isPinned(r));
        String user = r.user() == null ? "" : r.user();
        // "user", "uid", "user:group", "uid:gid": the part before ':' decides.
        String name = user.contains(":") ? user.substring(0, user.indexOf(':')) : user;
        if (!name.isEmpty()) {
            try {
                b.setUid(Int64Value.newBuilder().setValue(Long.parseLong(name)));
            } catch (NumberFormatException e) {
                b.setUsername(name);
            }
        }
        return b.build();
    }
}
