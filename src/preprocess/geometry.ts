/**
 * Resize-then-centre-crop geometry of timm's eval transform (`transforms_imagenet_eval`,
 * crop_mode 'center'), computed on integers so the crop is reproducible to the pixel:
 *   target = floor(size / cropPct) per side;
 *   square target: torchvision Resize(int): short side = target, long side = int(target * long / short);
 *   otherwise (timm ResizeKeepRatio): scale = max(targetH / H, targetW / W), sides round(side * scale);
 *   crop: torchvision CenterCrop, top = round((H' - h) / 2), left = round((W' - w) / 2),
 *   with Python's round (half to even).
 */
import { invalidParam } from '../errors';

export interface CropGeometry {
  /** Size the decoded (orientation-corrected) image is resized to. */
  readonly resizeWidth: number;
  readonly resizeHeight: number;
  /** Top-left corner of the output window inside the resized image. */
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Python's round(): nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function cropGeometry(
  sourceWidth: number,
  sourceHeight: number,
  outputHeight: number,
  outputWidth: number,
  cropPct: number,
): CropGeometry {
  // cropPct in (0, 1] makes every resized side >= its target >= the output side, so the window fits.
  if (!(cropPct > 0 && cropPct <= 1)) throw invalidParam('cropPct', 'a number in (0, 1]', cropPct);
  const targetHeight = Math.floor(outputHeight / cropPct);
  const targetWidth = Math.floor(outputWidth / cropPct);
  let resizeWidth: number;
  let resizeHeight: number;
  if (targetHeight === targetWidth) {
    const target = targetHeight;
    if (sourceWidth === sourceHeight) {
      resizeWidth = target;
      resizeHeight = target;
    } else if (sourceWidth < sourceHeight) {
      resizeWidth = target;
      resizeHeight = Math.trunc((target * sourceHeight) / sourceWidth);
    } else {
      resizeHeight = target;
      resizeWidth = Math.trunc((target * sourceWidth) / sourceHeight);
    }
  } else {
    const scale = Math.max(targetHeight / sourceHeight, targetWidth / sourceWidth);
    resizeHeight = roundHalfEven(sourceHeight * scale);
    resizeWidth = roundHalfEven(sourceWidth * scale);
  }
  return {
    resizeWidth,
    resizeHeight,
    top: roundHalfEven((resizeHeight - outputHeight) / 2),
    left: roundHalfEven((resizeWidth - outputWidth) / 2),
    width: outputWidth,
    height: outputHeight,
  };
}
