"""What each view is, in two or three sentences with its source, and the README's essentials: the
texts of the Help menu and of the views' own "about" lines (text only, so any view may import it)."""

from __future__ import annotations

__all__ = ["ABOUT", "GETTING_STARTED"]

ABOUT: dict[str, str] = {
    "Training": (
        "The fit's loss per batch (faint) with a smoothed line — a debiased exponential moving average, as "
        "TensorBoard draws it — then loss and top-1/top-5 per epoch and the learning rate. A dotted red line "
        "marks the moment of the run's history that the Kernels and Feature maps tabs show; dashed curves are "
        "other runs drawn beside this one."),
    "Dynamics": (
        "Why a network trains, or doesn't: each row a layer in the order the input meets it, each column a "
        "sampled step, coloured by its gradient norm, update ratio or activation statistics; the findings say "
        "in words what stands out (vanishing gradients, saturated sigmoids, dead ReLUs). BatchNorm (Ioffe & "
        "Szegedy 2015) and ReLUs (Krizhevsky et al. 2012) keep the first rows alive; the lower picture is "
        "fastai's colorful dimension, the chosen layer's activation histogram over time."),
    "Data": (
        "The dataset before any training: its classes with their training and validation counts as a run "
        "splits them, examples of each class, its sizes and the mean image. Tick an augmentation to see the "
        "same images as the network is fed them (the papers' crops and flips, AlexNet's fancy PCA)."),
    "Graph": (
        "The chosen network drawn as the papers draw it: every layer a box with its output shape and receptive "
        "field, an Inception block's four branches side by side (Szegedy et al. 2014), AlexNet's two towers "
        "(Krizhevsky et al. 2012). Click a layer to see its feature maps, kernels or dynamics; colour the boxes "
        "by a figure to see where the parameters and the work are."),
    "Layers": (
        "Every layer of the chosen network with its output shape, parameters and multiply-accumulates per "
        "image, read from the model itself (torchinfo's way of counting). The totals match the papers' "
        "figures: LeNet-5 (LeCun et al. 1998), AlexNet (Krizhevsky et al. 2012), VGG (Simonyan & Zisserman "
        "2014), GoogLeNet (Szegedy et al. 2014)."),
    "Kernels": (
        "The first layer's filters drawn as small images, and their history during training: scrub the slider "
        "to watch them form. Edge and colour-blob detectors appear here, as in AlexNet's figure 3 "
        "(Krizhevsky et al. 2012)."),
    "Feature maps": (
        "What every channel of a layer answers to one image: bright where the channel fires. Early layers "
        "keep the image's shape, later ones respond to larger, more abstract parts (Zeiler & Fergus 2014, "
        "'Visualizing and Understanding Convolutional Networks')."),
    "Features": (
        "Images the network is surest of for each class, and patterns each channel of a layer answers most: "
        "activation maximisation — an image optimised by gradient ascent from noise (Simonyan, Vedaldi & "
        "Zisserman 2013, class models; Olah et al. 2017, 'Feature Visualization'). They show what the net "
        "looks for, not what the data look like."),
    "Classify": (
        "Drop image files anywhere on the window: each is shown as the network sees it (resized, its colours "
        "converted, a digit's ground inverted when needed) with the top-5 classes. A note says when an image "
        "is far from the training images: the scores then say little."),
    "Evaluate": (
        "The model's accuracy on the run's validation split (or another folder), with test-time augmentation "
        "as in AlexNet and VGG; the confusion matrix leads to the images of each cell. Grad-CAM (Selvaraju et "
        "al. 2017) colours the pixels that drove an answer: the last conv layer's maps weighed by the gradient "
        "of the class score."),
    "Runs": (
        "Every saved run with what sets it apart, its best top-1/top-5, time and speed; select several to "
        "overlay their curves. Smoothing is TensorBoard's debiased exponential moving average; a run can be "
        "opened, resumed, exported or set as the baseline."),
}

GETTING_STARTED = """<p><b>Train</b>: pick an architecture and a dataset on the left (the MNIST sample
ships with the app and works offline), then press <b>Start</b>. Curves grow live in the Training tab;
the run is saved in your runs folder and can be resumed from the Runs tab.</p>
<p><b>Look inside</b>: Layers, Kernels, Feature maps and Features show the model on show — the fit's
live weights, or a run opened in the Runs tab. <b>Classify</b>: drop image files on the window.
<b>Evaluate</b>: the confusion matrix, its images and Grad-CAM.</p>
<p><b>Your own images</b>: File ▸ Open image folder — one sub-folder of images per class.
<b>Queue</b>: Add to queue trains runs one after another; Tricks study queues the notes' eight runs.</p>
<p><b>Command line</b>: the same engine — <tt>cnnstudio train</tt>, <tt>classify</tt>, <tt>evaluate</tt>,
<tt>compare</tt>, … (<tt>cnnstudio --help</tt>); several GPUs or machines: torchrun (see the README).</p>"""
