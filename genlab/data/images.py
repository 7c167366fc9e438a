"""Pictures: a grid of images, small ones enlarged so a person can see them; a labelled heatmap."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIN_PIXELS = 32  # small images are enlarged (nearest neighbour) to at least this many pixels a side
PADDING = 2  # grey pixels between the images of a grid and around it


def image_grid(images: torch.Tensor, n_levels: int, nrow: int = 8):
    """A PIL grid of images (N, C, H, W) with levels 0..n_levels-1 (floats allowed, e.g. means):
    ``nrow`` a row, grey between and around them (one image alone: no border), grey images shown
    as RGB, a value v as the byte int(255 v / (n_levels - 1)). The picture torchvision's
    ``make_grid`` and ``to_pil_image`` make, byte for byte (tested), without importing torchvision:
    a second and a half of the start of every stage that draws a grid."""
    from PIL import Image

    x = images.detach().float().cpu() / (n_levels - 1)
    scale = max(1, MIN_PIXELS // x.shape[-1])
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="nearest")
    x = x.clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, c, h, w = x.shape
    if n == 1:
        grid = x[0]
    else:
        cols = min(nrow, n)
        grid = torch.full((c, -(-n // cols) * (h + PADDING) + PADDING, cols * (w + PADDING) + PADDING), 0.5)
        for k in range(n):
            top, left = PADDING + k // cols * (h + PADDING), PADDING + k % cols * (w + PADDING)
            grid[:, top : top + h, left : left + w] = x[k]
    pixels = grid.mul(255).byte().permute(1, 2, 0).contiguous().numpy()  # truncated, as torchvision's
    return Image.fromarray(pixels)


def level_image(image, n_levels: int):
    """One image (C, H, W) of levels 0..n_levels-1 as a PIL image at its own size, each level
    mapped to round(255 * level / (n_levels - 1)): grey (C = 1), RGB (3), RGBA (4); other channel
    counts as grey channels side by side."""
    from PIL import Image

    x = torch.as_tensor(image).double()
    pixels = (x * 255 / (n_levels - 1)).round().clamp(0, 255).to(torch.uint8).numpy()
    if pixels.shape[0] in (3, 4):
        return Image.fromarray(pixels.transpose(1, 2, 0).copy())
    return Image.fromarray(pixels.transpose(1, 0, 2).reshape(pixels.shape[1], -1).copy())


def heatmap(matrix, labels: list[str], title: str, cell: int = 10):
    """A PIL picture of a square matrix of probabilities (rows: from, columns: to), darker = more
    probable on a square-root scale so small probabilities still show, rows and columns labelled."""
    from PIL import Image, ImageDraw

    m = torch.as_tensor(matrix).detach().cpu().double().clamp(0, 1)
    n = m.shape[0]
    margin, top = 3 * 7, 2 * 12
    grey = (255 * (1 - m.sqrt() / max(m.sqrt().max().item(), 1e-12))).round().to(torch.uint8)
    cells = grey.repeat_interleave(cell, 0).repeat_interleave(cell, 1).numpy()
    picture = Image.new("L", (margin + n * cell + 2, top + margin + n * cell + 2), 255)
    picture.paste(Image.fromarray(cells), (margin, top + margin))
    draw = ImageDraw.Draw(picture)
    draw.text((2, 2), title, fill=0)
    for i, label in enumerate(labels):
        draw.text((2, top + margin + i * cell - 1), label, fill=0)  # rows: the current symbol
        draw.text((margin + i * cell + 1, top + (i % 2) * 9), label, fill=0)  # columns: the next one
    return picture
