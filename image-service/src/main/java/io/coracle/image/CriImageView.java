package io.coracle.image;

import io.coracle.cri.v1.Image;
import io.coracle.cri.v1.ImageSpec;
import io.coracle.cri.v1.Int64Value;

import io.coracle.image.store.ImageRecord;
import io.coracle.oci.Ids;

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
        // "user", "uid", "user:group", "uid:gid": the part before ':' decides. Only an id in range is a
        // uid: anything else ("4294967296", "-1") is reported as a name, as containerd reports a name,
        // so the kubelet cannot take it for a non-root uid (runAsNonRoot then refuses it); creating a
        // container from it fails.
        String name = user.contains(":") ? user.substring(0, user.indexOf(':')) : user;
        if (!name.isEmpty()) {
            if (Ids.parse(name) instanceof Ids.Id id) {
                b.setUid(Int64Value.newBuilder().setValue(id.value()));
            } else {
                b.setUsername(name);
            }
        }
        return b.build();
    }
}
