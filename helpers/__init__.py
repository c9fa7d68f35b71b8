"""helpers: the thin library every notebook of the course kit imports.

Modules, by concern (lower ones import nothing above them):

The data and the measures (notebooks 01 on)
    paths     where the repository, data and outputs live
    files     the one atomic file write (a failed or killed write leaves the previous file intact), and the
              checks that keep every command's output off its own input
    images    one image file to RGB uint8 pixels, whatever the file holds (with clear errors); the one rule
              from floats to 8-bit pixels (to_pixel_levels)
    sample    the embedded LIVE-shaped sample, built offline from installed packages' photographs
    data/     the data package (``from helpers import data`` gives every name):
      sources        LIVE, any image folder, the embedded sample: reference/JPEG pairs
      normalization  8-bit pixels to model tensors and exactly back (notebook 02)
      datasets       make_splits: the leak-free split by reference, crops, flips; whole validation photographs
      cache          prepared images decoded once, kept in memory and on disk (a Cache object)
      summary        a dataset in a few numbers (python -m helpers.data)
    params    checks for notebook parameters: a setup cell's one table of name, type and range (check_parameters;
              a bad value stops with a clear message); what a notebook declares, each value converted to its
              declared type (how tools.run and tools.sweep check parameter files)
    metrics   MSE, PSNR, SSIM on 8-bit pixels; bits per pixel; JPEG/WebP at a target rate

The models and their training (notebooks 03 on)
    models/   the models package (``from helpers import models`` gives every name; build_model rebuilds a model
              from its config):
      layers    the knobs (activation, pooling, ...) and the layers they name; which output fits which targets
      running   evaluation_mode and torch_threads: run a model in a setting, then restore the setting
      cost      parameters and multiply-adds
      base      save_config (the one way to record a model's config) and the autoencoders' shared base
      dense     BaselineAE, the minimal fully connected autoencoder (notebook 03)
      conv      ConvAE, the course's convolutional autoencoder (notebooks 04 on)
    train     notebook 03's loop as public pieces (train_one_epoch, evaluate) and fit built from them (04 on)
    checkpoints  a fit run's History and its checkpoint file (saved atomically, loaded safely, resume checks)
    compare   an autoencoder against JPEG and WebP at the same bits per pixel, on whole images (photo_metrics)
    verdicts  is a difference between two trainings real? compared with the seed spread of the same model
    reference the shipped reference models (a notebook's model trained much longer) and their manifest
    plots     side-by-side grids, curves, rate-distortion plots
    checks    exercise checks that give students immediate feedback
    widgets/  interactive explorers (latent size in 06, rate in 08; ``from helpers import widgets`` gives every name):
      panels     what one view shows, as plain data (pictures, PSNR, SSIM, bpp) and as HTML
      explorers  the slider and image chooser wired to the panels

Real compression (notebook 08, the codec command line)
    entropy   a learned factorized density, integer CDF tables and ANS entropy coding
    rd_model  a rate-distortion autoencoder (factorized prior, GDN), its training steps and its checkpoints
    hyperprior a scale hyperprior (Balle et al. 2018): side information z, y coded with a Gaussian whose scales
              come from z through a fixed table of integer tables (bit-exact decoding); its latents to bytes;
              its checkpoints
    bdrate    Bjontegaard delta rate between two rate-distortion curves
    streams   the byte-stream format: header (version 1 factorized prior, 2 scale hyperprior), CRC, model identity
    codec     the kit's image codec for both model kinds: compress/decompress of any image file read by
              helpers.images (python -m helpers.codec); loads a checkpoint of either kind
    rd_curves JPEG, WebP and the kit's codec on images with real bytes: rate-distortion rows, curves, BD-rates

What a notebook keeps (every notebook's last cells)
    record    its key metrics (metrics.json) and figures (PNG) in its output folder, for the report and sweeps

Instructors' and maintainers' commands (run, sweep, student, course, evaluate_codecs, the report) live in the
sibling package ``tools``: they call helpers, helpers never imports them.
"""

__version__ = "0.1.0"
